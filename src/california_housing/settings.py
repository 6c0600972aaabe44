"""Project settings: framework glue only. See https://docs.kedro.org/ for the options."""

import warnings
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from kedro.utils import find_kedro_project
from omegaconf.resolvers import oc

from california_housing import library_warnings
from california_housing.hooks import TrackingHook
from california_housing.structure import ProjectConfigLoader


def project_root() -> str:
    """Absolute path of the Kedro project that contains the working directory.

    Used as ``${project_root:}`` in configuration so that SQLite stores land in the
    project root whether Kedro starts there or in ``notebooks/``.
    """
    cwd = Path.cwd()
    return (find_kedro_project(cwd) or cwd).resolve().as_posix()


def pinned(distribution: str, marker: str = "", other_build: str = "") -> str:
    """``${pinned:scikit-learn}`` -> ``scikit-learn==<installed version>``.

    Logged models list their pip requirements explicitly (MLflow's inference of them
    costs seconds per model), and this keeps those pins equal to what trained them.
    ``${pinned:xgboost,'sys_platform == "darwin"',xgboost-cpu}`` ->
    ``xgboost==3.2.0; sys_platform == "darwin"``: a requirement that applies only where its
    marker holds, pinned to the installed version of ``distribution`` or, where that is not
    installed, of ``other_build`` (another build of the same package and version, as
    ``xgboost-cpu`` is of ``xgboost``). So a model trained on any platform names, for each
    platform, a build that installs there.

    Args:
        distribution: The distribution to require.
        marker: An environment marker (PEP 508), empty for none.
        other_build: A distribution whose version stands in when ``distribution`` is not
            installed here.

    Returns:
        The requirement line.

    Raises:
        PackageNotFoundError: When neither distribution is installed.
    """
    try:
        found = version(distribution)
    except PackageNotFoundError:
        if not other_build:
            raise
        found = version(other_build)
    return f"{distribution}=={found}" + (f"; {marker}" if marker else "")


def utc_hours_ago(hours: float | int) -> str:  # `int` too: omegaconf checks the hint
    """``${utc_hours_ago:168}`` -> the time 168 hours ago, ISO 8601 in UTC, to the second.

    The default start of the monitoring window (``datasets.PredictionLogDataset`` reads it).
    """
    moment = datetime.now(UTC) - timedelta(hours=float(hours))
    return moment.isoformat(timespec="seconds")


def warn_if_not_running_src() -> None:
    """Warn when the package that runs is not the project's ``src/`` one.

    The project's ``kedro.init`` entry point (:func:`library_warnings.quiet`) imports the
    installed package before Kedro puts ``src/`` on the path. So with a non-editable
    install, or another checkout installed in the same virtualenv, the installed copy runs
    and edits to ``src/`` silently do not: say so, naming both.
    """
    running = Path(__file__).resolve().parent
    source = Path(project_root()) / "src" / running.name
    if source.is_dir() and source.resolve() != running:
        warnings.warn(
            f"kedro runs the {running.name} package installed at {running}, not this "
            f"project's {source}, so edits to src/ do not take effect: install this "
            "checkout with `pip install -e .`",
            stacklevel=1,
        )


library_warnings.quiet()  # sessions made without the CLI too (notebooks, KedroSession.create)
warn_if_not_running_src()

HOOKS = (TrackingHook(),)

# OmegaConfigLoader that also gives the pipelines' structure (versions, models) the
# session's --env / --conf-source: see structure.py.
CONFIG_LOADER_CLASS = ProjectConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # oc.env beyond credentials: conf/team reads the tracking server's URL from
    # MLFLOW_TRACKING_URI (docs/scaling-out.md)
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
