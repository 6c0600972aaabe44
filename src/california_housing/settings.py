"""Project settings: framework glue only. See https://docs.kedro.org/ for the options."""

from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

from kedro.config import OmegaConfigLoader
from kedro.utils import find_kedro_project

from california_housing.hooks import CandidateRunsHook


def project_root() -> str:
    """Absolute path of the Kedro project that contains the working directory.

    Used as ``${project_root:}`` in configuration so that SQLite stores land in the
    project root whether Kedro starts there or in ``notebooks/``.
    """
    cwd = Path.cwd()
    return (find_kedro_project(cwd) or cwd).resolve().as_posix()


def pinned(distribution: str) -> str:
    """``${pinned:scikit-learn}`` -> ``scikit-learn==<installed version>``.

    Logged models list their pip requirements explicitly (MLflow's inference of them
    costs seconds per model), and this keeps those pins equal to what trained them.
    """
    return f"{distribution}=={version(distribution)}"


def utc_hours_ago(hours: float) -> str:
    """``${utc_hours_ago:168}`` -> the UTC time 168 hours ago, ``YYYY-MM-DD HH:MM:SS``.

    The default start of the monitoring window; this text form compares correctly with
    the timestamps SQLAlchemy stores in SQLite and is parsed by PostgreSQL.
    """
    moment = datetime.now(UTC) - timedelta(hours=float(hours))
    return moment.strftime("%Y-%m-%d %H:%M:%S")


HOOKS = (CandidateRunsHook(),)

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "custom_resolvers": {
        "project_root": project_root,
        "pinned": pinned,
        "utc_hours_ago": utc_hours_ago,
    },
    "config_patterns": {
        "parameters": ["parameters*", "parameters*/**", "**/parameters*"],
        "mlflow": ["mlflow*", "mlflow*/**", "**/mlflow*"],
    },
}
