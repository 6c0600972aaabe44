"""The service's settings: the project's configuration, overridden by the environment.

``kedro serve --env ENV`` reads them as ``kedro run --env ENV`` reads its configuration:
``serving:`` in ``parameters_serving.yml``, the tracking URI from ``mlflow.yml``, the data
versions' filters from ``parameters_data_processing.yml``, the API key from
``credentials.yml`` and where the last reports are from the catalog. Any setting can then be
overridden by an environment variable ``SERVING_<NAME>`` (``SERVING_LOG_DB_URL``,
``SERVING_MODEL_ALIAS``, ``SERVING_API_KEY``...), the tracking URI by ``MLFLOW_TRACKING_URI``.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


def _positive(value: int) -> int:
    if value < 1:
        raise ValueError("must be a positive integer")
    return value


def _not_negative(value: float) -> float:
    if value < 0:
        raise ValueError("must not be negative")
    return value


Count = Annotated[int, AfterValidator(_positive)]
Seconds = Annotated[float, AfterValidator(_not_negative)]

#: Settings computed from other configuration files, not keys of ``serving:``.
_DERIVED = frozenset(
    {"tracking_uri", "versions", "api_key", "env", "leaderboard_path", "promotion_path",
     "monitoring_decision_path"}
)  # fmt: skip
#: The catalog entries whose files the UI shows, per setting.
REPORT_ENTRIES = {
    "leaderboard_path": "leaderboard",
    "promotion_path": "promotion_decision",
    "monitoring_decision_path": "monitoring_decision",
}


class ServingSettings(BaseSettings):
    """Everything the service needs to start.

    Attributes:
        model_name: Registered model to serve.
        tracking_uri: MLflow tracking (and registry) URI (``MLFLOW_TRACKING_URI``).
        log_db_url: SQLAlchemy URL of the prediction log.
        model_alias: Registry alias to follow (``champion``).
        versions: The data versions (``{name: {"filters": ...}}``): a champion's domain is
            its data version's filters.
        poll_seconds: Interval between checks of where the alias points (0: never).
        max_rows: Most rows in one ``/predict`` request.
        max_body_bytes: Largest request body accepted.
        cors_origins: Origins allowed by CORS; empty turns CORS off.
        api_key: Key that ``/feedback`` and ``/reload`` require; ``None``: no key needed.
        allow_unauthenticated: Serve on an address other machines reach without an API key
            (a warning at every start); without it, ``kedro serve`` refuses.
        log_buffer_rows: Rows held in memory while the log database is slow or away.
        log_batch_rows: Most rows per database write.
        log_flush_seconds: Longest a logged row waits before its write starts.
        shutdown_flush_seconds: On shutdown, how long to keep retrying the last writes.
        log_spill_path: File for rows still unwritten after that (written first by the next
            start); default: next to a SQLite log.
        leaderboard_path: The last report's leaderboard (catalog ``leaderboard``); its
            figures and the promotion decision are beside it.
        promotion_path: The last promotion decision (catalog ``promotion_decision``).
        monitoring_decision_path: The latest monitoring decision (``monitoring_decision``).
        env: The Kedro environment the settings were read from (named in the UI's hints).
    """

    model_config = SettingsConfigDict(
        env_prefix="SERVING_",
        env_ignore_empty=True,  # SERVING_API_KEY="" leaves the configured key
        extra="forbid",
        frozen=True,
        validate_by_name=True,
    )

    model_name: Annotated[str, Field(min_length=1)]
    tracking_uri: Annotated[str, Field(min_length=1, validation_alias="MLFLOW_TRACKING_URI")]
    log_db_url: Annotated[str, Field(min_length=1)]
    model_alias: Annotated[str, Field(min_length=1)] = "champion"
    versions: dict[str, Any] = {}
    poll_seconds: Seconds = 30.0
    max_rows: Count = 10_000
    max_body_bytes: Count = 4_000_000
    cors_origins: tuple[str, ...] = ()
    api_key: Annotated[str | None, Field(repr=False)] = None
    allow_unauthenticated: bool = False
    log_buffer_rows: Count = 200_000
    log_batch_rows: Count = 2_000
    log_flush_seconds: Seconds = 0.2
    shutdown_flush_seconds: Seconds = 30.0
    log_spill_path: str | None = None
    leaderboard_path: Path | None = None
    promotion_path: Path | None = None
    monitoring_decision_path: Path | None = None
    env: str | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment wins over the configuration (the constructor's arguments)."""
        return env_settings, init_settings

    @model_validator(mode="after")
    def _one_request_fits(self) -> ServingSettings:
        if self.log_buffer_rows < self.max_rows:
            raise ValueError(
                "serving.log_buffer_rows must be at least serving.max_rows "
                f"({self.log_buffer_rows} < {self.max_rows}): one full request must fit."
            )
        return self

    @classmethod
    def from_config(
        cls,
        serving: Mapping[str, Any],
        *,
        tracking_uri: str,
        versions: Mapping[str, Any] | None = None,
        api_key: str | None = None,
        **derived: Any,
    ) -> ServingSettings:
        """Build settings from configuration values; environment variables override them.

        Args:
            serving: The ``serving:`` parameters.
            tracking_uri: The tracking URI from ``mlflow.yml``.
            versions: The ``versions`` parameters.
            api_key: The API key from credentials, if any.
            **derived: Other settings that do not come from ``serving:`` (report paths, env).

        Returns:
            The settings.

        Raises:
            ValueError: Naming each unknown, missing or invalid setting and how to set it.
        """
        known = set(cls.model_fields) - _DERIVED
        unknown = sorted(set(serving) - known)
        if unknown:
            raise ValueError(
                f"Unknown key(s) {unknown} under serving: in parameters_serving.yml; "
                f"known keys are {sorted(known)}."
            )
        try:
            return cls(
                **serving,
                tracking_uri=tracking_uri,
                versions=dict(versions or {}),
                api_key=api_key or None,
                **derived,
            )
        except ValidationError as exc:
            raise ValueError(_explain(exc)) from None

    @property
    def filters(self) -> dict[str, dict[str, Any]]:
        """Filters per data version name."""
        return {
            name: dict((spec or {}).get("filters") or {}) for name, spec in self.versions.items()
        }

    def refusal(self, host: str) -> str | None:
        """Why ``kedro serve`` must not bind ``host`` with these settings (``None``: it may).

        Without an API key, anyone who reaches the port may post feedback (labels that flow
        into retraining) and move the served model: that is refused on any address but the
        loopback one, unless ``allow_unauthenticated`` says it is meant.
        """
        if self.api_key or self.allow_unauthenticated or _is_loopback(host):
            return None
        return (
            f"Refusing to serve on {host} without an API key: anyone who can reach it could "
            "POST /feedback (labels that flow into retraining) and POST /reload. Set one with "
            "the environment variable SERVING_API_KEY, or `serving: {api_key: ...}` in "
            "conf/local/credentials.yml; or bind 127.0.0.1; or, if this is meant, set "
            "SERVING_ALLOW_UNAUTHENTICATED=true (serving.allow_unauthenticated)."
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def _explain(exc: ValidationError) -> str:
    """One line per invalid setting: its ``serving.`` name, what is wrong, how to set it."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        name = ".".join(str(part) for part in error["loc"])
        if error["type"] == "value_error":
            message = str(error["ctx"]["error"])
            lines.append(f"serving.{name} {message}." if name else message)
        elif error["type"] == "missing":
            lines.append(f"serving.{name} is not set in parameters_serving.yml.")
        else:
            lines.append(
                f"serving.{name}: {error['msg']} (parameters_serving.yml, or the environment "
                f"variable SERVING_{name.upper()})."
            )
    return "\n".join(lines)


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

    Raises:
        ValueError: When the environment has no ``serving:`` parameters or a setting is wrong.
    """
    from kedro.config import MissingConfigException  # noqa: PLC0415
    from kedro.framework.project import settings as project  # noqa: PLC0415
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415
    from kedro.utils import find_kedro_project  # noqa: PLC0415

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
    try:
        credentials = loader["credentials"] or {}
    except (KeyError, MissingConfigException):  # no credentials file at all
        credentials = {}
    if "serving" not in parameters:
        raise ValueError(
            "No serving: parameters in this environment: add conf/base/parameters_serving.yml."
        )
    return ServingSettings.from_config(
        parameters["serving"],
        tracking_uri=str(loader["mlflow"]["server"]["mlflow_tracking_uri"]),
        versions=parameters.get("versions") or {},
        api_key=(credentials.get("serving") or {}).get("api_key"),
        env=run_env,
        **_report_paths(loader["catalog"], root),
    )


def _report_paths(catalog: Mapping[str, Any], root: Path) -> dict[str, Path]:
    """The files of :data:`REPORT_ENTRIES` as the catalog places them (relative to ``root``)."""
    paths = {}
    for setting, name in REPORT_ENTRIES.items():
        entry = catalog.get(name) or {}
        filepath = entry.get("filepath") or (entry.get("dataset") or {}).get("filepath")
        if filepath:
            paths[setting] = root / filepath
    return paths
