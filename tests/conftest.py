"""Session-wide setup shared by every test: quiet telemetry and the real raw data."""

import os
import shutil
import subprocess
from pathlib import Path

import mlflow
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from california_housing.datasets import CaliforniaHousingDataset

REPO_ROOT = Path(__file__).resolve().parents[1]

for _name in ("KEDRO_DISABLE_TELEMETRY", "DO_NOT_TRACK", "MLFLOW_DISABLE_TELEMETRY"):
    os.environ.setdefault(_name, "true")

_SHARED_CACHE = REPO_ROOT.parent / "shared" / "data" / "scikit_learn_data"
if "SCIKIT_LEARN_DATA" not in os.environ and _SHARED_CACHE.is_dir():
    os.environ["SCIKIT_LEARN_DATA"] = str(_SHARED_CACHE)


@pytest.fixture(scope="session")
def raw_frame():
    """The real California Housing frame (20,640 x 9). Shared: copy before changing it."""
    return CaliforniaHousingDataset().load()


@pytest.fixture
def small_raw(raw_frame):
    """The first 200 real rows, a private copy each test may change."""
    return raw_frame.head(200).copy()


def run_project(
    project: Path, pipelines: list[str] | None = None, env: str = "test", **kwargs
) -> None:
    """`kedro run --env <env> [--pipelines ...]` from inside ``project``.

    The working directory and MLflow's tracking URI are restored afterwards.
    """
    previous_cwd, previous_uri = Path.cwd(), mlflow.get_tracking_uri()
    os.chdir(project)
    try:
        bootstrap_project(project)
        with KedroSession.create(project_path=project, env=env, **kwargs) as session:
            session.run(pipeline_names=pipelines)
    finally:
        os.chdir(previous_cwd)
        mlflow.set_tracking_uri(previous_uri)
        # kedro-mlflow set the run's experiment as MLflow's active one; other tests'
        # stores do not have it (MLflow offers no public way to unset it)
        mlflow.tracking.fluent._active_experiment_id = None


@pytest.fixture(scope="session")
def project(tmp_path_factory):
    """A copy of the project, run once with `kedro run --env test` (all stages).

    conf/, pyproject.toml, the example rows and (a link to) the package are copied into a
    temporary git repository, so data, the SQLite MLflow store and the Optuna storage
    land there and the runs carry a real commit.
    """
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(REPO_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    shutil.copy(REPO_ROOT / "pyproject.toml", root)
    (root / "src").mkdir()
    package = REPO_ROOT / "src" / "california_housing"
    (root / "src" / "california_housing").symlink_to(package, target_is_directory=True)
    shutil.copytree(
        REPO_ROOT / "data" / "01_raw" / "examples", root / "data" / "01_raw" / "examples"
    )
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "."], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "snapshot"], cwd=root, check=True)
    run_project(root)
    return root
