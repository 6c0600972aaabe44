"""The team's stack (compose.yaml), run end to end with podman-compose on 127.0.0.1.

One test walks the loop a team runs: PostgreSQL, the MLflow tracking server and the service come
up; the ``train`` job runs ``kedro run --env team`` against them and promotes a champion; the
service picks it up by itself; predictions and feedback go through the service into its
PostgreSQL log; the ``monitor`` job writes a decision that the service's ``/monitoring/latest``
and ``/ui`` show; then ``down`` and ``up`` again keep the prediction log, the registry and the
decision. The project is named per run (``-p``) and its ports are free ones, so it touches no
other stack; it is taken down with its volumes at the end, whatever the outcome.

podman 4.3's podman-compose ignores ``condition: service_healthy`` and runs no health checks
without systemd, so the test waits for readiness itself: PostgreSQL first (``pg_isready`` over
TCP, once the first start's initialisation is over), then the rest. The ``train`` job reads the
real data from ``SCIKIT_LEARN_DATA`` (mounted read-only) when it is set, and downloads it
otherwise. The image is the session's (tests/containers.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from california_housing.schema import RAW_FEATURES, TARGET
from tests.containers import podman

REPO_ROOT = Path(__file__).resolve().parents[1]
COMPOSE = REPO_ROOT / "compose.yaml"
MODEL_NAME = "california-housing"
SECRETS = (
    "POSTGRES_PASSWORD",
    "MLFLOW_DB_PASSWORD",
    "OPTUNA_DB_PASSWORD",
    "SERVING_DB_PASSWORD",
    "SERVING_API_KEY",
)
# The secrets each service may receive: only those it uses.
USES = {
    "postgres": {"POSTGRES_PASSWORD", "MLFLOW_DB_PASSWORD", "OPTUNA_DB_PASSWORD",
                 "SERVING_DB_PASSWORD"},  # it creates the roles
    "mlflow": {"MLFLOW_DB_PASSWORD"},
    "serving": {"SERVING_DB_PASSWORD", "SERVING_API_KEY"},
    "train": {"OPTUNA_DB_PASSWORD"},
    "monitor": {"SERVING_DB_PASSWORD"},
}  # fmt: skip
ROWS = 300  # > the monitoring's min_rows for drift (200) and live error (100)

pytestmark = [
    pytest.mark.container,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed"),
]


def secrets() -> dict[str, str]:
    """A fresh value for every secret of the stack."""
    return {name: f"{name.lower()}-{uuid.uuid4().hex}" for name in SECRETS}


def compose_config(env: dict[str, str]) -> subprocess.CompletedProcess:
    """``podman-compose config`` with only ``env`` set of the stack's secrets."""
    environ = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return subprocess.run(
        ["podman-compose", "--profile", "jobs", "-f", str(COMPOSE), "config"],
        capture_output=True, text=True, env=environ | env, check=False, timeout=60,
    )  # fmt: skip


# ---- the file: parsed by podman-compose ----------------------------------------------------


def test_each_service_receives_only_the_credentials_it_uses() -> None:
    given = secrets()
    result = compose_config(given)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert set(services) == set(USES)
    for name, service in services.items():
        seen = json.dumps([service.get("environment"), service.get("command")])
        received = {secret for secret, value in given.items() if value in seen}
        assert received == USES[name], name
    # and none is written in the file
    text = COMPOSE.read_text()
    assert not any(value in text for value in given.values())


def test_ports_healthchecks_and_volumes() -> None:
    stack = yaml.safe_load(compose_config(secrets()).stdout)
    services = stack["services"]
    for name in ("postgres", "mlflow", "serving"):
        assert services[name]["healthcheck"]["test"], name
        for port in services[name].get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond 127.0.0.1"
    assert services["serving"]["depends_on"]["mlflow"]["condition"] == "service_healthy"
    assert services["mlflow"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    # the service's spill file and the reports it shows live in the volume the jobs write to
    for name in ("serving", "train", "monitor"):
        assert services[name]["volumes"] == ["project-data:/app/data"], name
    assert {"postgres-data", "mlflow-artifacts", "project-data"} == set(stack["volumes"])


@pytest.mark.parametrize("missing", SECRETS)
def test_a_missing_secret_is_named(missing: str) -> None:
    result = compose_config({k: v for k, v in secrets().items() if k != missing})
    assert result.returncode != 0
    assert missing in result.stderr


# ---- the stack, run ---------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 now."""
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(url: str, body: Any = None, headers: dict | None = None) -> tuple[int, Any]:
    """``GET`` (or ``POST`` JSON) ``url``: status and the decoded JSON (or text)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 (http://127.0.0.1 only)
        url, data=data, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, raw.decode(errors="replace")


class Stack:
    """compose.yaml as its own podman-compose project, on free ports of 127.0.0.1."""

    def __init__(self, image: str) -> None:
        self.project = f"chtest{uuid.uuid4().hex[:8]}"
        self.secrets = secrets()
        self.ports = {
            name: free_port() for name in ("POSTGRES_PORT", "MLFLOW_PORT", "SERVING_PORT")
        }
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in SECRETS},
            **self.secrets,
            **{name: str(port) for name, port in self.ports.items()},
            "CALIFORNIA_HOUSING_IMAGE": image,
        }
        self.service = f"http://127.0.0.1:{self.ports['SERVING_PORT']}"
        self.tracking = f"http://127.0.0.1:{self.ports['MLFLOW_PORT']}"

    def compose(self, *args: str, timeout: float = 600, check: bool = True) -> str:
        """``podman-compose -p PROJECT -f compose.yaml ARGS``; its output.

        The ``jobs`` profile is named for ``run`` and ``down`` only, as the docs do: with it,
        ``up`` would start ``train`` and ``monitor`` too, in the background.
        """
        jobs = ["--profile", "jobs"] if args[0] in ("run", "down") else []
        done = subprocess.run(
            ["podman-compose", *jobs, "-p", self.project, "-f", str(COMPOSE), *args],
            capture_output=True, text=True, env=self.env, timeout=timeout, check=False,
        )  # fmt: skip
        output = done.stdout + done.stderr
        if check and done.returncode != 0:
            pytest.fail(f"podman-compose {' '.join(args)} exited {done.returncode}:\n"
                        f"{output[-6000:]}\n{self.logs()}")  # fmt: skip
        return output

    def container(self, service: str) -> str:
        """The name podman-compose gives the service's container."""
        return f"{self.project}_{service}_1"

    def running(self) -> set[str]:
        """The services with a running container in the project."""
        names = podman("ps", "--format", "{{.Names}}", "--filter", f"name={self.project}_")
        return {name.split("_")[1] for name in names.stdout.split()}

    def logs(self) -> str:
        """The last lines of each server's output."""
        return "\n".join(
            f"--- {service}:\n"
            + podman("logs", "--tail", "40", self.container(service), check=False).stderr[-3000:]
            for service in ("postgres", "mlflow", "serving")
        )

    def psql(self, database: str, sql: str) -> str:
        """Run SQL in the stack's PostgreSQL as its superuser (over the local socket)."""
        return podman(
            "exec", self.container("postgres"), "psql", "--no-psqlrc", "-U", "postgres",
            "-d", database, "-tAc", sql,
        ).stdout.strip()  # fmt: skip

    def wait(self, what: str, check: Any, timeout: float = 240) -> float:
        """Poll ``check()`` until it is true; the seconds it took."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            try:
                if check():
                    return time.monotonic() - start
            except OSError:  # not listening yet, connection reset
                pass
            time.sleep(1)
        pytest.fail(f"{what}: not after {timeout:.0f} s\n{self.logs()}")

    def up(self) -> None:
        """PostgreSQL first, ready over TCP (after its first start's setup); then the rest."""
        self.compose("up", "-d", "--no-build", "postgres")
        self.wait("PostgreSQL ready", lambda: podman(
            "exec", self.container("postgres"), "pg_isready", "-h", "127.0.0.1", "-U", "postgres",
            check=False,
        ).returncode == 0)  # fmt: skip
        self.compose("up", "-d", "--no-build")
        self.wait("the tracking server", lambda: http(f"{self.tracking}/health")[0] == 200)
        self.wait("the service", lambda: http(f"{self.service}/health")[0] == 200)

    def champion_version(self) -> int:
        """The registry's champion version, from the tracking server's REST API."""
        status, answer = http(
            f"{self.tracking}/api/2.0/mlflow/registered-models/alias"
            f"?name={MODEL_NAME}&alias=champion"
        )
        assert status == 200, answer
        return int(answer["model_version"]["version"])


@pytest.fixture
def stack(project_image: str) -> Iterator[Stack]:
    """The stack, taken down with its volumes at the end, whatever the outcome."""
    running = Stack(project_image)
    try:
        yield running
    finally:
        running.compose("down", "--volumes", "-t", "10", timeout=300, check=False)
        left = podman("ps", "-aq", "--filter", f"name={running.project}_", check=False)
        for container in left.stdout.split():
            podman("rm", "--force", container, check=False)


def drifted_rows(raw_frame: pd.DataFrame) -> pd.DataFrame:
    """``ROWS`` real rows with incomes scaled up by half (the drift scenario of kedro traffic)."""
    rows = raw_frame.sample(ROWS, random_state=11)
    return rows.assign(MedInc=(rows["MedInc"] * 1.5).clip(upper=raw_frame["MedInc"].max()))


def send_traffic(stack: Stack, rows: pd.DataFrame) -> None:
    """``rows`` through ``/predict`` in batches of 100, then their true values to ``/feedback``."""
    ids: list[str] = []
    for start in range(0, len(rows), 100):
        batch = rows.iloc[start : start + 100][RAW_FEATURES].to_dict(orient="records")
        status, answer = http(f"{stack.service}/predict", {"rows": batch})
        assert status == 200, answer
        ids += [p["prediction_id"] for p in answer["predictions"]]
    truth = rows[TARGET].astype(float)
    feedback = [{"prediction_id": i, "MedHouseVal": v} for i, v in zip(ids, truth, strict=True)]
    key = {"X-API-Key": stack.secrets["SERVING_API_KEY"]}
    status, answer = http(f"{stack.service}/feedback", {"feedback": feedback}, headers=key)
    assert (status, answer) == (200, {"received": len(rows)})
    logged = lambda: http(f"{stack.service}/predictions?limit=1")[1]["total"] == len(rows)  # noqa: E731
    stack.wait("the predictions in the log", logged, 60)


def database_owners(stack: Stack) -> dict[str, str]:
    """The owner of each of the stack's databases."""
    rows = stack.psql(
        "postgres",
        "SELECT datname || '=' || pg_get_userbyid(datdba) FROM pg_database "
        "WHERE datname IN ('mlflow', 'optuna', 'serving')",
    )
    return dict(line.split("=") for line in rows.splitlines())


def test_the_stack_trains_serves_monitors_and_keeps_its_state(
    stack: Stack, raw_frame: pd.DataFrame
) -> None:
    phases: dict[str, float] = {}
    start = time.monotonic()

    stack.up()
    phases["up"] = time.monotonic() - start
    assert stack.running() == {"postgres", "mlflow", "serving"}  # the jobs run only when asked
    assert http(f"{stack.service}/ready")[0] == 503  # no champion yet
    assert database_owners(stack) == {"mlflow": "mlflow", "optuna": "optuna", "serving": "serving"}

    # train: the whole loop against the stack's tracking server and Optuna storage
    mark = time.monotonic()
    data = os.environ.get("SCIKIT_LEARN_DATA")
    mount = ["-v", f"{data}:/opt/sklearn_data:ro", "-e", "SCIKIT_LEARN_DATA=/opt/sklearn_data"]
    stack.compose("run", "--rm", *(mount if data else []), "train", timeout=1800)
    phases["train"] = time.monotonic() - mark
    version = stack.champion_version()
    assert int(stack.psql("optuna", "SELECT count(*) FROM studies")) >= 1

    # the service picks the champion up by itself (it polls the alias)
    mark = time.monotonic()
    stack.wait("the service ready", lambda: http(f"{stack.service}/ready")[0] == 200, 180)
    phases["picked up"] = time.monotonic() - mark
    status, model = http(f"{stack.service}/model")
    assert status == 200, model
    assert (model["name"], int(model["version"])) == (MODEL_NAME, version)
    assert http(f"{stack.service}/ui/api/report")[0] == 200  # train's reports, on the volume

    send_traffic(stack, drifted_rows(raw_frame))

    # monitor: a decision the service shows
    mark = time.monotonic()
    output = stack.compose("run", "--rm", "monitor", timeout=900)
    phases["monitor"] = time.monotonic() - mark
    assert "monitoring: status=retrain" in output, output[-3000:]
    status, decision = http(f"{stack.service}/monitoring/latest")
    assert status == 200, decision
    assert (decision["retrain"], decision["window"]["rows"]) == (True, ROWS)
    assert any("MedInc" in reason for reason in decision["reasons"])
    assert int(decision["champion"]["version"]) == version
    status, page = http(f"{stack.service}/ui/monitoring")
    assert status == 200
    assert "Monitoring" in page

    # down and up again: the log, the registry and the decision are kept
    mark = time.monotonic()
    stack.compose("down", "-t", "60", timeout=300)
    assert not podman("ps", "-q", "--filter", f"name={stack.project}_").stdout.strip()
    stack.up()
    stack.wait("the service ready again", lambda: http(f"{stack.service}/ready")[0] == 200, 180)
    phases["down and up"] = time.monotonic() - mark
    assert stack.champion_version() == version
    assert int(http(f"{stack.service}/model")[1]["version"]) == version
    assert http(f"{stack.service}/predictions?limit=1")[1]["total"] == ROWS
    assert stack.psql("serving", "SELECT count(*) FROM feedback") == str(ROWS)
    assert http(f"{stack.service}/monitoring/latest") == (200, decision)

    phases["total"] = time.monotonic() - start
    print("compose stack phases (s):", {k: round(v) for k, v in phases.items()})
