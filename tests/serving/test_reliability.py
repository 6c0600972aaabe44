"""Nothing acknowledged is lost, and nothing is dropped, under the failures a service meets.

Each test starts its own ``kedro serve`` on the e2e project and puts it under a bounded load
from a few client threads (127.0.0.1 only): SIGTERM midway, the log database disappearing,
the registry alias moving.
"""

from __future__ import annotations

import shutil
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import mlflow
import pytest

from tests.serving.conftest import EAST_ROW, ROW, serving_env, start_server, wait_ready

pytestmark = pytest.mark.slow

REGISTERED_MODEL = "california-housing-test"


class Load:
    """Client threads sending /predict until stopped or ``max_requests`` is reached."""

    def __init__(self, url: str, threads: int = 4, max_requests: int = 3000, rows=(ROW,)):
        self.url = url
        self.rows = list(rows)
        self.max_requests = max_requests
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acknowledged: list[str] = []  # prediction ids answered 200
        self.statuses: list[int] = []
        self.versions: list[tuple[float, int]] = []
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                with self.lock:
                    if len(self.statuses) >= self.max_requests:
                        return
                try:
                    answer = client.post("/predict", json={"rows": self.rows})
                except httpx.TransportError as exc:  # the server is gone or going
                    with self.lock:
                        self.errors.append(type(exc).__name__)
                    time.sleep(0.01)
                    continue
                with self.lock:
                    self.statuses.append(answer.status_code)
                    if answer.status_code == 200:
                        body = answer.json()
                        self.acknowledged += [p["prediction_id"] for p in body["predictions"]]
                        self.versions.append((time.monotonic(), body["model_version"]))

    def wait_for(self, condition: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"load never reached the condition; statuses {self.count()}")
            time.sleep(0.05)

    def count(self, status: int | None = None) -> int:
        with self.lock:
            return len(self.statuses) if status is None else self.statuses.count(status)


def _logged_ids(db_path: Path) -> set[str]:
    with sqlite3.connect(db_path) as db:
        return {row[0] for row in db.execute("SELECT prediction_id FROM predictions")}


@pytest.fixture
def env_name(project, request):
    """A Kedro environment of the project made for one test, removed afterwards."""
    name = f"serving_{request.node.name[:40]}"
    yield name
    shutil.rmtree(project / "conf" / name, ignore_errors=True)


def test_sigterm_midway_loses_no_acknowledged_prediction(project, tmp_path):
    with start_server(project, tmp_path) as server:
        wait_ready(server)
        with Load(server.url, threads=6) as load:
            load.wait_for(lambda: load.count(200) >= 150)
            server.process.send_signal(signal.SIGTERM)  # kedro serve itself, as a container would
            server.process.wait(120)
        # uvicorn finishes, then re-raises the signal it caught: the exit status says SIGTERM
        assert server.process.returncode in {0, -signal.SIGTERM}, server.output()[-3000:]
        assert "Application shutdown complete" in server.output()

    assert load.count(200) >= 150
    assert len(load.acknowledged) == len(set(load.acknowledged))
    missing = set(load.acknowledged) - _logged_ids(server.db_path)
    assert not missing, f"{len(missing)} acknowledged predictions are not in the log"
    assert set(load.statuses) <= {200, 503}


def test_log_database_away_gives_503_then_recovers_without_losing_rows(project, tmp_path, env_name):
    env = serving_env(
        project, env_name, max_rows=10, log_buffer_rows=60, log_flush_seconds=0.05,
        log_spill_path=str(tmp_path / "spill.jsonl"),
    )  # fmt: skip
    folder, away = tmp_path / "logdb", tmp_path / "away"
    folder.mkdir()
    db_url = f"sqlite:///{folder / 'log.db'}"
    with start_server(
        project, tmp_path, env=env, extra_env={"SERVING_LOG_DB_URL": db_url}
    ) as server:
        wait_ready(server)
        client = server.client()
        before = client.post("/predict", json={"rows": [ROW] * 5})
        assert before.status_code == 200

        folder.rename(away)  # the database disappears (an unmounted volume, a lost disk)
        wait_ready(server, ready=False, timeout=30)
        answers = [client.post("/predict", json={"rows": [ROW] * 5}) for _ in range(20)]
        statuses = [a.status_code for a in answers]
        buffered = [p["prediction_id"] for a in answers if a.status_code == 200
                    for p in a.json()["predictions"]]  # fmt: skip
        accepted = statuses.count(200)
        # the 60-row buffer takes up to 12 requests of 5 rows, then the service refuses
        # rather than answer without logging
        assert statuses == [200] * accepted + [503] * (20 - accepted), statuses
        assert 10 <= accepted <= 12, statuses
        assert "Retry-After" in answers[-1].headers
        assert client.get("/ready").json()["status"] == "not ready"

        away.rename(folder)  # back
        wait_ready(server, timeout=30)
        after = client.post("/predict", json={"rows": [ROW]})
        assert after.status_code == 200
        client.get("/predictions", params={"limit": 1})  # waits until written
        client.close()

    acknowledged = [p["prediction_id"] for p in before.json()["predictions"]] + buffered
    acknowledged.append(after.json()["predictions"][0]["prediction_id"])
    assert set(acknowledged) <= _logged_ids(folder / "log.db")


def test_alias_moved_during_load_switches_version_without_failing_a_request(
    project, tmp_path, env_name, request
):
    store = tmp_path / "mlflow.db"
    shutil.copy(project / "mlflow.db", store)  # this test moves the alias in its own copy
    previous_uri = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{store}")  # model versions resolve sources through it
    request.addfinalizer(lambda: mlflow.set_tracking_uri(previous_uri))
    registry = mlflow.MlflowClient(tracking_uri=f"sqlite:///{store}")
    old = registry.get_model_version_by_alias(REGISTERED_MODEL, "champion")
    env = serving_env(project, env_name, poll_seconds=0.5)
    with start_server(
        project, tmp_path, env=env, extra_env={"MLFLOW_TRACKING_URI": f"sqlite:///{store}"}
    ) as server:
        wait_ready(server)
        with Load(server.url, threads=4, rows=(ROW, EAST_ROW)) as load:
            load.wait_for(lambda: load.count(200) >= 50)
            new = registry.create_model_version(
                REGISTERED_MODEL, old.source, run_id=old.run_id,
                tags={"candidate": "v1.xgboost", "data_version": "v1"},
            )  # fmt: skip
            registry.set_registered_model_alias(REGISTERED_MODEL, "champion", new.version)
            load.wait_for(lambda: any(v == int(new.version) for _, v in load.versions))
            switched = load.count()
            load.wait_for(lambda: load.count() >= switched + 50)
        with server.client() as client:
            model = client.get("/model").json()
            east = client.post("/predict", json={"rows": [EAST_ROW]}).json()["predictions"][0]
            registry.set_registered_model_alias(REGISTERED_MODEL, "champion", old.version)
            reloaded = client.post("/reload").json()
            metrics = client.get("/metrics").text

    assert set(load.statuses) == {200}, "a request failed while the model switched"
    assert not load.errors
    seen = [v for _, v in sorted(load.versions)]
    first_new = seen.index(int(new.version))
    assert set(seen[:first_new]) == {int(old.version)}
    assert set(seen[first_new + 100 :]) <= {int(new.version)}
    assert (model["version"], model["data_version"], model["domain"]) == (
        int(new.version), "v1", {},
    )  # fmt: skip
    assert east["out_of_domain"] is False  # v1 was trained on every block
    assert reloaded["version"] == int(old.version)
    assert reloaded["changed"] is True
    assert f'model_version="{old.version}"}} 1.0' in metrics
