"""The service's settings: read from the project's configuration, overridden by environment.

``kedro serve --env ENV`` reads them through a Kedro session of that environment, as
``kedro run`` would: ``serving:`` in ``parameters_serving.yml``, the tracking URI from
``mlflow.yml``, the data versions' filters from ``parameters_data_processing.yml`` and the
API key from ``credentials.yml``. Containers override single values with environment
variables (:data:`ENV_OVERRIDES`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

#: Environment variable -> setting it overrides.
ENV_OVERRIDES: dict[str, str] = {
    "MLFLOW_TRACKING_URI": "tracking_uri",
    "SERVING_LOG_DB_URL": "log_db_url",
    "SERVING_MODEL_ALIAS": "model_alias",
    "SERVING_API_KEY": "api_key",
}


@dataclass(frozen=True)
class ServingSettings:
    """Everything the service needs to start.

    Attributes:
        model_name: Registered model to serve.
        model_alias: Registry alias to follow (``champion``).
        tracking_uri: MLflow tracking (and registry) URI.
        log_db_url: SQLAlchemy URL of the prediction log.
        versions: The data versions (``{name: {"filters": ...}}``): a champion's domain is
            its data version's filters.
        poll_seconds: Interval between checks of where the alias points (0: never).
        max_rows: Most rows in one ``/predict`` request.
        max_body_bytes: Largest request body accepted.
        cors_origins: Origins allowed by CORS; empty turns CORS off.
        api_key: Key that ``/feedback`` and ``/reload`` require; ``None``: no key needed.
        log_buffer_rows: Rows held in memory while the log database is slow or away.
        log_batch_rows: Most rows per database write.
        log_flush_seconds: Longest a logged row waits before its write starts.
        shutdown_flush_seconds: On shutdown, how long to keep retrying the last writes.
        log_spill_path: File for rows still unwritten after that (written first by the next
            start); default: next to a SQLite log.
        data_root: The project's data root (``${globals:data_root}``), where the UI under
            ``/ui`` reads the last report and the latest monitoring decision.
        env: The Kedro environment the settings were read from (named in the UI's hints).
    """

    model_name: str
    tracking_uri: str
    log_db_url: str
    model_alias: str = "champion"
    versions: Mapping[str, Any] = field(default_factory=dict)
    poll_seconds: float = 30.0
    max_rows: int = 10_000
    max_body_bytes: int = 4_000_000
    cors_origins: tuple[str, ...] = ()
    api_key: str | None = None
    log_buffer_rows: int = 200_000
    log_batch_rows: int = 2_000
    log_flush_seconds: float = 0.2
    shutdown_flush_seconds: float = 30.0
    log_spill_path: str | None = None
    data_root: str = "data"
    env: str | None = None

    def __post_init__(self) -> None:
        """Check the values a typo in configuration would break."""
        for name in ("max_rows", "max_body_bytes", "log_buffer_rows", "log_batch_rows"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"serving.{name} must be a positive integer.")
        if self.log_buffer_rows < self.max_rows:
            raise ValueError(
                "serving.log_buffer_rows must be at least serving.max_rows "
                f"({self.log_buffer_rows} < {self.max_rows}): one full request must fit."
            )
        for name in ("poll_seconds", "log_flush_seconds", "shutdown_flush_seconds"):
            if float(getattr(self, name)) < 0:
                raise ValueError(f"serving.{name} must not be negative.")

    @classmethod
    def from_config(
        cls,
        serving: Mapping[str, Any],
        *,
        tracking_uri: str,
        versions: Mapping[str, Any] | None = None,
        api_key: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ServingSettings:
        """Build settings from configuration values, then apply environment overrides.

        Args:
            serving: The ``serving:`` parameters.
            tracking_uri: The tracking URI from ``mlflow.yml``.
            versions: The ``versions`` parameters.
            api_key: The API key from credentials, if any.
            environ: Environment variables (default: ``os.environ``).

        Returns:
            The settings.

        Raises:
            ValueError: Naming an unknown or missing ``serving`` key.
        """
        known = {f.name for f in fields(cls)} - {"tracking_uri", "versions", "api_key"}
        unknown = sorted(set(serving) - known)
        if unknown:
            raise ValueError(
                f"Unknown key(s) {unknown} under serving: in parameters_serving.yml; "
                f"known keys are {sorted(known)}."
            )
        values: dict[str, Any] = dict(serving)
        missing = [key for key in ("model_name", "log_db_url") if not values.get(key)]
        if missing:
            raise ValueError(f"serving.{missing[0]} is not set in parameters_serving.yml.")
        values["cors_origins"] = tuple(values.get("cors_origins") or ())
        settings = cls(
            tracking_uri=tracking_uri,
            versions=dict(versions or {}),
            api_key=api_key or None,
            **values,
        )
        return settings.with_environment(os.environ if environ is None else environ)

    def with_environment(self, environ: Mapping[str, str]) -> ServingSettings:
        """Apply :data:`ENV_OVERRIDES` that are set (and not empty) in ``environ``."""
        changes = {name: environ[var] for var, name in ENV_OVERRIDES.items() if environ.get(var)}
        return replace(self, **changes) if changes else self

    @property
    def filters(self) -> dict[str, dict[str, Any]]:
        """Filters per data version name."""
        return {
            name: dict((spec or {}).get("filters") or {}) for name, spec in self.versions.items()
        }


def load_settings(
    env: str | None = None, project_path: Path | str | None = None
) -> ServingSettings:
    """Read the settings of a Kedro project environment, as ``kedro run --env`` would.

    Args:
        env: Kedro environment (default: ``KEDRO_ENV`` or the project's default).
        project_path: The project root (default: the project containing the working
            directory).

    Returns:
        The settings, environment overrides applied.
    """
    from kedro.config import MissingConfigException  # noqa: PLC0415
    from kedro.framework.project import settings as project  # noqa: PLC0415
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415
    from kedro.utils import find_kedro_project  # noqa: PLC0415

    environ = dict(os.environ)  # as given
    root = Path(project_path or find_kedro_project(Path.cwd()) or Path.cwd()).resolve()
    bootstrap_project(root)
    # The project's config loader, as a session builds it, without a session: a session's
    # plugin hooks would set MLflow up from mlflow.yml (kedro-mlflow opens, even creates, that
    # store), which MLFLOW_TRACKING_URI may replace here (a container, a read-only store).
    run_env = env or os.environ.get("KEDRO_ENV")  # what a session would record as its env
    loader = project.CONFIG_LOADER_CLASS(
        conf_source=str(root / project.CONF_SOURCE), env=run_env, **project.CONFIG_LOADER_ARGS
    )
    parameters = loader["parameters"]
    mlflow_conf = loader["mlflow"]
    try:
        credentials = loader["credentials"]
    except (KeyError, MissingConfigException):  # no credentials file at all
        credentials = {}
    if "serving" not in parameters:
        raise ValueError(
            "No serving: parameters in this environment: add conf/base/parameters_serving.yml."
        )
    settings = ServingSettings.from_config(
        parameters["serving"],
        tracking_uri=str(mlflow_conf["server"]["mlflow_tracking_uri"]),
        versions=parameters.get("versions") or {},
        api_key=((credentials or {}).get("serving") or {}).get("api_key"),
        environ=environ,
    )
    return replace(settings, env=run_env)
