"""The service's container image, built from a wheelhouse and run with podman on 127.0.0.1.

The image is built once per session from the project's Dockerfile (tests/containers.py:
``docker/wheelhouse.sh`` first, as the build has no network). A `kedro run --env test` store,
made in a temporary folder, is mounted read-only at the same absolute path inside the
container: its SQLite database records the model artifacts' absolute paths. The same store is
served by ``kedro serve`` on the host, and both services must answer alike. Every container
is removed at the end, whatever the outcome.

Skipped only where podman is not installed; ``.ci/run`` runs ``container-setup`` first (it
builds the ``python:3.11-slim`` base from Debian packages; elsewhere the build pulls it).
Rootful podman is what runs here; for rootless podman the folders the container writes are
handed over with ``podman unshare``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from california_housing.schema import RAW_FEATURES
from tests.containers import podman

REPO_ROOT = Path(__file__).resolve().parents[1]
APP_UID = 10001  # the image's `app` user (Dockerfile)
MODEL_NAME = "california-housing-test"
READY_TIMEOUT = 240.0

pytestmark = [
    pytest.mark.container,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed"),
]


# ---- helpers --------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(
    base: str, path: str, body: Any = None, timeout: float = 30
) -> tuple[int, dict[str, Any]]:
    """``GET`` (or ``POST`` with a JSON body) ``base + path``: status and decoded JSON."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(  # noqa: S310 (http://127.0.0.1 only)
        base + path, data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def wait_ready(base: str, alive: Any, logs: Any) -> float:
    """Poll ``/ready`` until it answers 200; return the seconds it took.

    Args:
        base: The service's base URL.
        alive: Callable telling whether the server process still runs.
        logs: Callable returning the server's output, for the failure message.
    """
    start = time.monotonic()
    while time.monotonic() - start < READY_TIMEOUT:
        if not alive():
            pytest.fail(f"the service exited before it was ready:\n{logs()}")
        try:
            if request(base, "/ready", timeout=5)[0] == 200:
                return time.monotonic() - start
        except (OSError, ValueError):  # not listening yet / connection reset
            pass
        time.sleep(0.5)
    pytest.fail(f"the service was not ready after {READY_TIMEOUT:.0f} s:\n{logs()}")


def world_readable_tmp(prefix: str) -> Path:
    """A fresh folder under the system temp dir that the container's user can read.

    pytest's own tmp_path is private to the user running the tests (mode 0700), which the
    container's non-root user cannot enter.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


class Container:
    """A container of the image, started detached, published on 127.0.0.1 only."""

    def __init__(self, image: str, volumes: list[str], env: dict[str, str]) -> None:
        self.name = f"california-housing-test-{uuid.uuid4().hex[:10]}"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        args = ["run", "--detach", "--pull=never", "--name", self.name]
        args += ["--publish", f"127.0.0.1:{self.port}:8000"]
        for volume in volumes:
            args += ["--volume", volume]
        for key, value in env.items():
            args += ["--env", f"{key}={value}"]
        podman(*args, image)

    def running(self) -> bool:
        """Whether the container still runs."""
        state = podman("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return state.stdout.strip() == "true"

    def logs(self) -> str:
        """The container's output so far (its last 150 lines)."""
        result = podman("logs", "--tail", "150", self.name, check=False)
        return result.stdout + result.stderr

    def remove(self) -> None:
        """Stop (SIGKILL after 5 s) and remove the container, if it still exists."""
        podman("rm", "--force", "--time", "5", self.name, check=False, timeout=60)


@pytest.fixture
def containers() -> Iterator[list[Container]]:
    """Containers a test starts; all removed after it, also when it fails."""
    started: list[Container] = []
    yield started
    for container in started:
        container.remove()


# ---- fixtures: image, store, the service outside and inside ---------------------------------


@pytest.fixture(scope="module")
def image(project_image: str) -> str:
    """The project's image (built once per session: tests/containers.py)."""
    return project_image


@pytest.fixture(scope="module")
def store() -> Iterator[Path]:
    """A project copy after ``kedro run --env test``: its mlflow.db holds a champion.

    conf/, pyproject.toml, the example rows and a link to the package are copied into a
    temporary git repository (as tests/conftest.py's ``project`` does) that the container's
    user can read.
    """
    root = world_readable_tmp("container-store-")
    try:
        shutil.copytree(REPO_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
        (root / "conf" / "local").mkdir()
        shutil.copy(REPO_ROOT / "pyproject.toml", root)
        (root / "src").mkdir()
        (root / "src" / "california_housing").symlink_to(REPO_ROOT / "src" / "california_housing")
        shutil.copytree(
            REPO_ROOT / "data" / "01_raw" / "examples", root / "data" / "01_raw" / "examples"
        )
        git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
        subprocess.run([*git, "init", "-q"], cwd=root, check=True)
        subprocess.run([*git, "add", "."], cwd=root, check=True)
        subprocess.run([*git, "commit", "-qm", "snapshot"], cwd=root, check=True)
        run = subprocess.run(
            ["kedro", "run", "--env", "test"], cwd=root, capture_output=True, text=True, check=False
        )
        assert run.returncode == 0, f"kedro run --env test failed:\n{run.stdout[-4000:]}"
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def log_folder() -> Path:
    """A folder for the image's data volume (/app/data), which its user can write.

    It holds the prediction log (SERVING_LOG_DB_URL points there) and the file of rows left
    unwritten at a shutdown (``serving.log_spill_path``, under data/).
    """
    folder = world_readable_tmp("container-log-")
    if os.geteuid() == 0:
        os.chown(folder, APP_UID, APP_UID)
    else:  # rootless podman: the container's uids map to the user's subordinate ids
        podman("unshare", "chown", f"{APP_UID}:{APP_UID}", str(folder))
    return folder


def reclaim(folder: Path) -> None:
    """Give a folder the container wrote to back to the user running the tests (rootless)."""
    if os.geteuid() != 0:
        podman("unshare", "chown", "-R", "0:0", str(folder), check=False)


def remove_folder(folder: Path) -> None:
    """Remove a folder the container wrote to."""
    reclaim(folder)
    shutil.rmtree(folder, ignore_errors=True)


def container_env(store: Path) -> dict[str, str]:
    """The environment that points the image at the store and the test configuration."""
    return {
        "KEDRO_ENV": "test",
        "MLFLOW_TRACKING_URI": f"sqlite:///{store}/mlflow.db",
        "SERVING_LOG_DB_URL": "sqlite:////app/data/prediction_log.db",
        # the image binds every address, which the service refuses without a key
        "SERVING_API_KEY": "container-test-key",
    }


@pytest.fixture(scope="module")
def inside(image: str, store: Path) -> Iterator[Container]:
    """The image serving the store's champion (store read-only, data/ on a mounted folder)."""
    logs = log_folder()
    container = None
    try:
        container = Container(
            image,
            volumes=[f"{store}:{store}:ro", f"{logs}:/app/data"],
            env=container_env(store),
        )
        wait_ready(container.base, container.running, container.logs)
        yield container
    finally:
        if container is not None:
            container.remove()
        remove_folder(logs)


@pytest.fixture(scope="module")
def outside(store: Path) -> Iterator[str]:
    """``kedro serve --env test`` on the host, on the same store; its own log."""
    logs = Path(tempfile.mkdtemp(prefix="outside-log-"))
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{store}/mlflow.db",
        "SERVING_LOG_DB_URL": f"sqlite:///{logs}/prediction_log.db",
    }
    output = logs / "serve.out"
    with output.open("w") as out:
        process = subprocess.Popen(
            ["kedro", "serve", "--env", "test", "--host", "127.0.0.1", "--port", str(port)],
            cwd=store,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, lambda: process.poll() is None, output.read_text)
        yield base
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        shutil.rmtree(logs, ignore_errors=True)


@pytest.fixture(scope="module")
def rows(raw_frame: pd.DataFrame) -> list[dict[str, float]]:
    """The example file's made-up rows and 40 real ones (some outside v3's domain)."""
    examples = pd.read_csv(REPO_ROOT / "data" / "01_raw" / "examples" / "new_houses.csv")
    real = raw_frame.sample(40, random_state=7)
    frame = pd.concat([examples[RAW_FEATURES], real[RAW_FEATURES]], ignore_index=True)
    return frame.to_dict(orient="records")


# ---- tests ----------------------------------------------------------------------------------


def test_status_endpoints_answer_as_outside(inside: Container, outside: str) -> None:
    for path in ("/health", "/ready"):
        assert request(inside.base, path) == request(outside, path)
    assert request(inside.base, "/ready") == (200, {"status": "ready"})


def test_model_is_the_champion_outside_serves(inside: Container, outside: str) -> None:
    status, described = request(inside.base, "/model")
    assert status == 200
    assert described["name"] == MODEL_NAME
    expected = request(outside, "/model")[1]
    volatile = {"loaded_at"}
    assert {k: v for k, v in described.items() if k not in volatile} == {
        k: v for k, v in expected.items() if k not in volatile
    }


def test_predictions_equal_outside(inside: Container, outside: str, rows: list) -> None:
    status, answer = request(inside.base, "/predict", {"rows": rows})
    assert status == 200, answer
    expected = request(outside, "/predict", {"rows": rows})[1]
    assert (answer["model_name"], answer["model_version"]) == (
        expected["model_name"],
        expected["model_version"],
    )
    assert len(answer["predictions"]) == len(rows)

    def comparable(item: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in item.items() if k != "prediction_id"}

    assert [comparable(p) for p in answer["predictions"]] == [
        comparable(p) for p in expected["predictions"]
    ]
    # (the out-of-domain flags are part of that equality: the whole-state champion flags none)


def test_bad_rows_get_the_same_422(inside: Container, outside: str, rows: list) -> None:
    bad = [dict(rows[0], MedInc="lots"), {k: v for k, v in rows[1].items() if k != "Latitude"}]
    answer = request(inside.base, "/predict", {"rows": bad})
    assert answer[0] == 422
    assert answer == request(outside, "/predict", {"rows": bad})


def test_server_process_is_not_root(inside: Container) -> None:
    # PID 1 is the server itself (exec-form CMD); its owner and the default user are `app`
    owner = podman("exec", inside.name, "stat", "-c", "%u %U", "/proc/1").stdout.split()
    assert owner == [str(APP_UID), "app"]
    command = podman("exec", inside.name, "cat", "/proc/1/cmdline").stdout.split("\0")
    assert "serve" in command
    assert podman("exec", inside.name, "id", "-u").stdout.strip() == str(APP_UID)


def test_healthcheck_is_in_the_image_and_passes(inside: Container) -> None:
    # podman runs health checks on systemd timers, absent here: run it by hand
    assert podman("healthcheck", "run", inside.name, check=False).returncode == 0
    configured = podman("inspect", "--format", "{{json .Config.Healthcheck}}", inside.name).stdout
    assert "/health" in configured


def test_store_stays_read_only_and_untouched(inside: Container, store: Path) -> None:
    probe = podman("exec", inside.name, "touch", f"{store}/probe", check=False)
    assert probe.returncode != 0
    assert "Read-only file system" in probe.stderr


def test_sigterm_stops_cleanly_and_logs_every_acknowledged_prediction(
    image: str, store: Path, rows: list, containers: list[Container]
) -> None:
    logs = log_folder()
    try:
        container = Container(
            image,
            volumes=[f"{store}:{store}:ro", f"{logs}:/app/data"],
            env=container_env(store),
        )
        containers.append(container)
        wait_ready(container.base, container.running, container.logs)

        acknowledged: list[str] = []
        refused: list[str] = []
        lock, stop = threading.Lock(), threading.Event()

        def client(offset: int) -> None:
            # bounded: at most 400 requests per client, and it stops once the server is gone
            for i in range(400):
                batch = [rows[(offset + i + j) % len(rows)] for j in range(5)]
                try:
                    status, answer = request(container.base, "/predict", {"rows": batch}, 10)
                except (OSError, ValueError):
                    if stop.is_set():
                        return
                    continue
                with lock:
                    if status == 200:
                        acknowledged.extend(p["prediction_id"] for p in answer["predictions"])
                    else:
                        refused.append(str(status))

        clients = [threading.Thread(target=client, args=(k * 7,)) for k in range(4)]
        for thread in clients:
            thread.start()
        while len(acknowledged) < 300 and any(t.is_alive() for t in clients):
            time.sleep(0.05)
        podman("kill", "--signal", "TERM", container.name)
        stop.set()
        exit_code = podman("wait", container.name, timeout=120).stdout.strip()
        for thread in clients:
            thread.join(timeout=60)

        assert exit_code == "0", container.logs()
        assert len(acknowledged) >= 300
        reclaim(logs)
        with sqlite3.connect(logs / "prediction_log.db") as db:
            logged = {row[0] for row in db.execute("SELECT prediction_id FROM predictions")}
        missing = set(acknowledged) - logged
        assert not missing, f"{len(missing)} acknowledged predictions are not in the log"
    finally:
        for container in containers:
            container.remove()
        remove_folder(logs)
