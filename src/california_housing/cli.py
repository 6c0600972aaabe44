"""Project commands that Kedro adds to its CLI (``kedro serve``, ``kedro traffic``, ...).

Kedro loads the click group ``cli`` of this module as the project's own commands; ``run`` is
Kedro's own command, re-exported because ``python -m california_housing`` looks it up here.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import click
from kedro.framework.cli.project import run
from kedro.framework.startup import ProjectMetadata

from california_housing.traffic import traffic
from california_housing.upkeep import archive, monitor, prune

__all__ = ["cli", "run", "server_settings"]


@click.group(name="california_housing")
def cli() -> None:
    """California Housing project commands."""


def server_settings(log_level: str = "info") -> dict[str, Any]:
    """Uvicorn settings for ``kedro serve`` (besides the address).

    The event loop and HTTP parser are uvicorn's ``auto`` choices: uvloop and httptools where
    they are installed (pyproject.toml installs them wherever they publish wheels), asyncio's
    own loop and h11 elsewhere (uvloop has no Windows build).

    Args:
        log_level: uvicorn's log level.

    Returns:
        Keyword arguments for ``uvicorn.run``.
    """
    return {
        "loop": "auto",
        "http": "auto",
        "access_log": False,
        "log_level": log_level,
        "server_header": False,
        "timeout_graceful_shutdown": None,  # SIGTERM: finish every request, then flush
    }


@cli.command()
@click.option("--env", "-e", default=None, envvar="KEDRO_ENV", help="Kedro environment.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1), help="Worker processes."
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
@click.pass_obj
def serve(  # noqa: PLR0917 (click passes options by position)
    metadata: ProjectMetadata, env: str | None, host: str, port: int, workers: int, log_level: str
) -> None:
    """Serve the registry's champion over HTTP (see README, "Serving").

    Settings come from the environment's configuration (serving: in parameters_serving.yml,
    mlflow.yml, credentials.yml), as `kedro run --env ENV` reads them; environment variables
    SERVING_<SETTING> (SERVING_LOG_DB_URL, SERVING_API_KEY...) and MLFLOW_TRACKING_URI
    override them. Without an API key it serves the loopback address only.
    """
    import uvicorn  # noqa: PLC0415

    from california_housing.serving.app import create_app  # noqa: PLC0415
    from california_housing.serving.settings import load_settings  # noqa: PLC0415

    try:
        settings = load_settings(env, metadata.project_path)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if (refusal := settings.refusal(host)) is not None:
        raise click.ClickException(refusal)
    server_options = {"host": host, "port": port, **server_settings(log_level)}
    if workers == 1:
        uvicorn.run(create_app(settings), **server_options)
        return
    # each worker process builds its own app from the same environment's configuration
    if env:
        os.environ["KEDRO_ENV"] = env
    os.chdir(metadata.project_path)
    with tempfile.TemporaryDirectory(prefix="serving-metrics-") as metrics_dir:
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", metrics_dir)
        uvicorn.run(
            "california_housing.serving.app:create_app",
            factory=True,
            workers=workers,
            **server_options,
        )


cli.add_command(traffic)  # kedro traffic: replay rows through the live API
cli.add_command(monitor)  # kedro monitor: monitoring, then retraining if advised
cli.add_command(prune)  # kedro prune: old dataset versions and runs, by the retention policy
cli.add_command(archive)  # kedro archive: old days of the prediction log to Parquet files
