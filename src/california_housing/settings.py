"""Project settings: framework glue only. See https://docs.kedro.org/ for the options."""

from pathlib import Path

from kedro.config import OmegaConfigLoader
from kedro.utils import find_kedro_project



def project_root() -> str:
    """Absolute path of the Kedro project that contains the working directory.

    Used as ``${project_root:}`` in configuration so that SQLite stores land in the
    project root whether Kedro starts there or in ``notebooks/``.
    """
    cwd = Path.cwd()
    return (find_kedro_project(cwd) or cwd).resolve().as_posix()


CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "custom_resolvers": {"project_root": project_root},
    "config_patterns": {
        "parameters": ["parameters*", "parameters*/**", "**/parameters*"],
        "mlflow": ["mlflow*", "mlflow*/**", "**/mlflow*"],
    },
}
