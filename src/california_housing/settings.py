"""Project settings: framework glue only. See https://docs.kedro.org/ for the options."""

from importlib.metadata import version
from pathlib import Path

from kedro.utils import find_kedro_project

from california_housing.hooks import CandidateRunsHook
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


HOOKS = (CandidateRunsHook(),)

# OmegaConfigLoader that also gives the pipelines' structure (versions, models) the
# session's --env / --conf-source: see structure.py.
CONFIG_LOADER_CLASS = ProjectConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "custom_resolvers": {"project_root": project_root, "pinned": pinned},
    "config_patterns": {
        "parameters": ["parameters*", "parameters*/**", "**/parameters*"],
        "mlflow": ["mlflow*", "mlflow*/**", "**/mlflow*"],
    },
}
