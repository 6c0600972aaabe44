"""Project settings: framework glue only. See https://docs.kedro.org/ for the options."""

import warnings
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

from kedro.utils import find_kedro_project
from omegaconf.resolvers import oc

from california_housing.hooks import TrackingHook
from california_housing.structure import ProjectConfigLoader


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


def utc_hours_ago(hours: float | int) -> str:  # `int` too: omegaconf checks the hint
    """``${utc_hours_ago:168}`` -> the UTC time 168 hours ago, ``YYYY-MM-DD HH:MM:SS``.

    The default start of the monitoring window; this text form compares correctly with
    the timestamps SQLAlchemy stores in SQLite and is parsed by PostgreSQL.
    """
    moment = datetime.now(UTC) - timedelta(hours=float(hours))
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def quiet_library_warnings() -> None:
    """Ignore warnings that libraries raise about their own code.

    A user of this project can do nothing about them. Each filter names the message and
    the module that raises it, so the same warning about this project's code still shows.
    Called when Kedro imports this module (it bootstraps the project), before it loads
    plugins, sessions and config loaders.
    """
    # omegaconf 2.4 deprecates register_new_resolver(), which Kedro's OmegaConfigLoader and
    # kedro-mlflow's hook still call (globals, runtime_params, custom resolvers, km.random_name).
    warnings.filterwarnings(
        "ignore",
        message=r"register_new_resolver\(\) is deprecated",
        category=UserWarning,
        module=r"kedro\.config\.omegaconf_config|kedro_mlflow\.framework\.hooks\.mlflow_hook",
    )
    # The Optuna study dataset turns on heartbeats on purpose (a killed worker's trial is
    # marked FAIL and its place retried); Optuna still marks the argument experimental.
    warnings.filterwarnings(
        "ignore",
        message=r"Argument ``heartbeat_interval`` is an experimental feature",
        module=r"optuna\._experimental",
    )


quiet_library_warnings()

HOOKS = (TrackingHook(),)

# OmegaConfigLoader that also gives the pipelines' structure (versions, models) the
# session's --env / --conf-source: see structure.py.
CONFIG_LOADER_CLASS = ProjectConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # oc.env beyond credentials: conf/team reads the tracking server's URL from
    # MLFLOW_TRACKING_URI (README, "Scaling out")
    "custom_resolvers": {
        "project_root": project_root,
        "pinned": pinned,
        "utc_hours_ago": utc_hours_ago,
        "oc.env": oc.env,
    },
    "config_patterns": {
        "parameters": ["parameters*", "parameters*/**", "**/parameters*"],
        "mlflow": ["mlflow*", "mlflow*/**", "**/mlflow*"],
    },
}
