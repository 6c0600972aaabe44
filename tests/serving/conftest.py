"""A real ``kedro serve`` on 127.0.0.1, serving the champion of the e2e project.

``served`` (module scope) is a running service of the ``project`` fixture (a copy of the
project after ``kedro run --env test``). ``start_server`` starts more of them with other
settings. Every server runs in its own process group and is stopped (SIGTERM, then SIGKILL)
even when the test fails (``california_housing.processes``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import joblib
import mlflow
import pytest
import yaml
from kedro.config import OmegaConfigLoader

from california_housing.datasets.mlflow_datasets import log_portable_model
from california_housing.processes import free_port, http_ok, started, stop_group
from california_housing.schema import EXAMPLE_ROW
from california_housing.settings import CONFIG_LOADER_ARGS

KEDRO = str(Path(sys.executable).with_name("kedro"))
API_KEY = "test-key"
ROW = dict(EXAMPLE_ROW)  # a real row of the data
EAST_ROW = ROW | {"Latitude": 34.05, "Longitude": -117.9}  # outside v2/v3's domain
INLAND_CAPPED = {"MedHouseVal": {"le": 5.0}, "Longitude": {"lt": -119.0}}  # v2's and v3's filters
REGISTERED_MODEL = "california-housing-test"


@dataclass
class Server:
    """A running service: its URL, process, log file and prediction log database."""

    url: str
    process: subprocess.Popen
    log_path: Path
    db_path: Path

    def client(self, **kwargs) -> httpx.Client:
        """An HTTP client of this server."""
        return httpx.Client(base_url=self.url, timeout=30.0, **kwargs)

    def output(self) -> str:
        """What the server printed so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int | None:
        """Signal the process group and wait; SIGKILL it if it does not exit in time."""
        return stop_group(self.process, sig, timeout)


def serving_env(project: Path, name: str, **serving) -> str:
    """Create Kedro environment ``name`` in ``project``: ``test`` plus serving overrides.

    Returns:
        The environment's name.
    """
    folder = project / "conf" / name
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(project / "conf" / "test", folder)
    base = yaml.safe_load((project / "conf/base/parameters_serving.yml").read_text())
    (folder / "parameters_serving.yml").write_text(
        yaml.safe_dump({"serving": base["serving"] | serving})
    )
    return name


@contextmanager
def start_server(
    project: Path,
    tmp_path: Path,
    *,
    env: str = "test",
    extra_env: dict | None = None,
    args: tuple[str, ...] = (),
) -> Iterator[Server]:
    """``kedro serve --env ENV [args]`` in ``project``, its prediction log under ``tmp_path``.

    Yields:
        The server, once ``/health`` answers (it may not be ready: see ``wait_ready``).
    """
    port = free_port()
    db_path = tmp_path / "prediction_log.db"
    log_path = tmp_path / f"server-{port}.log"
    environ = os.environ | {
        "SERVING_LOG_DB_URL": f"sqlite:///{db_path}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{project}/mlflow.db",
        **(extra_env or {}),
    }
    environ.pop("KEDRO_ENV", None)
    command = [KEDRO, "serve", "--env", env, "--host", "127.0.0.1", "--port", str(port), *args]
    url = f"http://127.0.0.1:{port}"
    with started(
        command, ready=http_ok(f"{url}/health"), log_path=log_path, cwd=project, env=environ
    ) as process:
        yield Server(url, process, log_path, db_path)


def wait_ready(server: Server, ready: bool = True, timeout: float = 60.0) -> None:
    """Wait until ``/ready`` answers 200 (or, with ``ready=False``, 503)."""
    expected = 200 if ready else 503
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(f"{server.url}/ready", timeout=5).status_code == expected:
            return
        time.sleep(0.2)
    pytest.fail(f"/ready never answered {expected}:\n{server.output()[-3000:]}")


@pytest.fixture(scope="module")
def served(project, tmp_path_factory) -> Iterator[Server]:
    """``kedro serve --env test`` of the e2e project, with an API key, ready."""
    with start_server(
        project, tmp_path_factory.mktemp("served"), extra_env={"SERVING_API_KEY": API_KEY}
    ) as server:
        wait_ready(server)
        yield server


@pytest.fixture(scope="module")
def specialist(project, tmp_path_factory):
    """A copy of the e2e project whose alias ``specialist`` holds its v3 tuned candidate,
    logged and registered as the promotion code does: a champion trained on a filtered
    version (``MedHouseVal <= 5.0``, ``Longitude < -119.0``)."""
    root = tmp_path_factory.mktemp("specialist") / "project"
    shutil.copytree(project, root, symlinks=True)
    config = OmegaConfigLoader(conf_source=str(root / "conf"), env="test", **CONFIG_LOADER_ARGS)
    save_args = dict(config["catalog"]["champion"]["save_args"])
    client = mlflow.MlflowClient(f"sqlite:///{root}/mlflow.db")
    experiment = client.get_experiment_by_name("california-housing-test")
    (run,) = client.search_runs(
        [experiment.experiment_id], "tags.candidate = 'v3.xgboost_tuned'", max_results=1
    )
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{root}/mlflow.db")
    try:
        path = mlflow.artifacts.download_artifacts(f"runs:/{run.info.run_id}/model.joblib")
        info = log_portable_model(joblib.load(path), run.info.run_id, **save_args)
        tags = {"candidate": "v3.xgboost_tuned", "data_version": "v3"}
        version = mlflow.register_model(info.model_uri, REGISTERED_MODEL, tags=tags)
        client.set_registered_model_alias(REGISTERED_MODEL, "specialist", version.version)
    finally:
        mlflow.set_tracking_uri(previous)
    return root
