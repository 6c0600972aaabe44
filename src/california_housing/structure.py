"""Which data versions, models and tuned candidates exist: read from configuration.

Pipelines are instantiated once per data version and model, so their *structure* has to
be known when the pipeline registry is built, before a session loads its parameters.
This module reads the same parameter files the session reads: ``conf/base`` overlaid by
``conf/local`` (or by the environment named in ``KEDRO_ENV``). Other environments may
change settings (tree counts, trial counts), not which versions or models exist.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader
from kedro.framework.project import settings
from kedro.utils import find_kedro_project


@cache
def _parameters(conf_source: str, env: str) -> dict[str, Any]:
    args = {k: v for k, v in settings.CONFIG_LOADER_ARGS.items() if k != "default_run_env"}
    loader = OmegaConfigLoader(conf_source=conf_source, env=env, **args)
    return dict(loader["parameters"])


def parameters() -> dict[str, Any]:
    """Parameters of the project around the working directory (base + local/KEDRO_ENV).

    Returns:
        The merged parameters.
    """
    cwd = Path.cwd()
    root = find_kedro_project(cwd) or cwd
    env = os.environ.get("KEDRO_ENV") or "local"
    return _parameters(str((root / settings.CONF_SOURCE).resolve()), env)


def versions() -> list[str]:
    """Names of the data versions, in configuration order."""
    return list(parameters()["versions"])


def models() -> list[str]:
    """Names of the models of the zoo, in configuration order."""
    return list(parameters().get("models", {}))


def tuned_model() -> str:
    """Model of the zoo that the tuning pipeline searches (``tuning.model``)."""
    return str(parameters().get("tuning", {}).get("model", "xgboost"))


def tuned_versions() -> list[str]:
    """Data versions the tuning pipeline searches."""
    return list(parameters().get("tuning", {}).get("versions", []))
