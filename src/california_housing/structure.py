"""Which data versions, models and tuned candidates exist: read from configuration.

Pipelines are instantiated once per data version and model, so their *structure* has to
be known when the pipeline registry is built. Kedro builds the registry after it has
created the session's config loader, so the structure is read from **that loader's**
parameters: ``--env``, ``--conf-source`` and ``--params`` apply to it as to every other
setting, and a packaged project reads them from its configuration archive.
:class:`ProjectConfigLoader` (``settings.CONFIG_LOADER_CLASS``) hands each session's
loader to this module when it is created.

With no session (``kedro registry list``, ``find_pipelines()`` in a script, a test that
calls ``create_pipeline()``), the structure is read from the project around the working
directory: ``conf/base`` overlaid by ``conf/local``, or by the environment named in
``KEDRO_ENV``.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from kedro.config import AbstractConfigLoader, OmegaConfigLoader
from kedro.framework.project import settings
from kedro.utils import find_kedro_project


class StructureError(ValueError):
    """The configuration does not say which versions or models exist."""


class ProjectConfigLoader(OmegaConfigLoader):
    """Kedro's ``OmegaConfigLoader`` that also tells :mod:`structure` where to read from.

    Every Kedro entry point that builds a context (``kedro run``, ``kedro viz``,
    ``kedro ipython``, a packaged project's ``main``) creates the session's config
    loader before it builds the pipelines; this one registers itself with
    :func:`read_from` so that the pipelines follow the session's environment and
    configuration source. Reading through the session's own loader also keeps Kedro's
    global resolvers bound to it (a second ``OmegaConfigLoader`` would rebind them).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Create the loader (same arguments as ``OmegaConfigLoader``) and register it."""
        super().__init__(*args, **kwargs)
        read_from(self)


class _Source:
    """The config loader structure reads from (``None``: the project's conf folder)."""

    loader: AbstractConfigLoader | None = None
    parameters: dict[str, Any] | None = None


def read_from(loader: AbstractConfigLoader | None) -> None:
    """Read the structure from ``loader``'s parameters from now on.

    Args:
        loader: A session's config loader; ``None`` goes back to reading the project
            around the working directory.
    """
    _Source.loader, _Source.parameters = loader, None


def source() -> str:
    """Where the structure is read from, in words (for error messages)."""
    loader = _Source.loader
    if loader is None:
        root, env = _project_conf()
        return f"{root}/base + {root}/{env} (no Kedro session; KEDRO_ENV selects the env)"
    return f"the session's configuration ({loader.conf_source}, env {loader.env or 'default'})"


def _project_conf() -> tuple[Path, str]:
    cwd = Path.cwd()
    root = find_kedro_project(cwd) or cwd
    return (root / settings.CONF_SOURCE).resolve(), os.environ.get("KEDRO_ENV") or "local"


@cache
def _yaml_parameters(conf_source: Path, env: str) -> dict[str, Any]:
    # Plain YAML on purpose: a second OmegaConfigLoader would re-register the global
    # `globals` and `runtime_params` resolvers and change what the session resolves.
    # Only the *keys* are used here, so ${...} interpolations need no resolving.
    if not (conf_source / "base").is_dir():
        raise StructureError(
            f"No configuration at {conf_source}/base: run from the project's folder, or "
            "through Kedro (`kedro run --conf-source <folder or archive>`)."
        )
    merged: dict[str, Any] = {}
    for folder in (conf_source / "base", conf_source / env):
        for path in sorted(folder.glob("**/parameters*.y*ml")):
            merged |= yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return merged


def parameters() -> dict[str, Any]:
    """The parameters the structure is read from (see the module docstring).

    Top-level keys of the environment replace those of ``base``, as in Kedro.

    Returns:
        The merged parameters (resolved when read through a session's loader).
    """
    if _Source.loader is None:
        return _yaml_parameters(*_project_conf())
    if _Source.parameters is None:
        _Source.parameters = dict(_Source.loader["parameters"])
    return _Source.parameters


def versions() -> list[str]:
    """Names of the data versions, in configuration order.

    Raises:
        StructureError: When the parameters have no ``versions``.
    """
    found = parameters().get("versions")
    if not found:
        raise StructureError(
            f"No data versions (`versions` in parameters_data_processing.yml) in {source()}."
        )
    return list(found)


def models() -> list[str]:
    """Names of the models of the zoo, in configuration order."""
    return list(parameters().get("models", {}))


def zoo_candidates() -> list[tuple[str, str]]:
    """``(version, model)`` of every zoo candidate, in configuration order.

    A version trains the models its ``models`` list names, or the whole zoo without one.

    Raises:
        StructureError: When a version names a model that is not in the zoo.
    """
    zoo = models()
    found = []
    for version in versions():
        spec = parameters()["versions"][version] or {}
        names = list(spec.get("models") or zoo)
        unknown = [name for name in names if name not in zoo]
        if unknown:
            raise StructureError(
                f"Version {version!r} lists models {unknown} that are not in the zoo "
                f"(`models` in parameters_data_science.yml: {zoo}); read from {source()}."
            )
        found += [(version, name) for name in names]
    return found


def tuned_model() -> str:
    """Model of the zoo that the tuning pipeline searches (``tuning.model``)."""
    return str(parameters().get("tuning", {}).get("model", "xgboost"))


def tuned_versions() -> list[str]:
    """Data versions the tuning pipeline searches (the keys of ``tuning.versions``).

    Raises:
        StructureError: When ``tuning.versions`` is not a mapping of version -> overrides.
    """
    found = parameters().get("tuning", {}).get("versions") or {}
    if not isinstance(found, dict):
        raise StructureError(
            f"tuning.versions must map each tuned version to the settings it overrides, e.g. "
            f"{{v3: {{n_trials: 20}}, v4: {{}}}}; got {found!r} in {source()}."
        )
    return list(found)
