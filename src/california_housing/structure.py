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

import yaml
from kedro.framework.project import settings
from kedro.utils import find_kedro_project


@cache
def _parameters(conf_source: str, env: str) -> dict[str, Any]:
    # Plain YAML on purpose: a second OmegaConfigLoader would re-register the global
    # `globals` and `runtime_params` resolvers and change what the session resolves.
    # Only the *keys* are used here, so ${...} interpolations need no resolving.
    merged: dict[str, Any] = {}
    for folder in (Path(conf_source) / "base", Path(conf_source) / env):
        for path in sorted(folder.glob("**/parameters*.y*ml")):
            merged |= yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return merged


def parameters() -> dict[str, Any]:
    """Parameters of the project around the working directory (base + local/KEDRO_ENV).

    Top-level keys of the environment replace those of ``base``, as in Kedro.

    Returns:
        The merged parameters, uninterpolated.
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
