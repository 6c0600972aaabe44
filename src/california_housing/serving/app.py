"""The REST API, built by :func:`create_app`.

Other ASGI servers use the factory: ``uvicorn --factory california_housing.serving.app:create_app``.
Endpoints (see ``routes/``): ``GET /health``, ``GET /ready``, ``GET /model``, ``POST /predict``,
``POST /feedback``, ``GET /predictions``, ``GET /metrics``, ``POST /reload``,
``GET /monitoring/latest``, and the web UI under ``/ui``.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from california_housing import __version__
from california_housing.serving import errors
from california_housing.serving.middleware import BodyLimit, RequestMetrics
from california_housing.serving.routes import ROUTERS
from california_housing.serving.service import Service
from california_housing.serving.settings import ServingSettings, load_settings
from california_housing.serving.ui import router as ui_router


def create_app(settings: ServingSettings | None = None) -> FastAPI:
    """Build the service.

    Args:
        settings: The service's settings; by default those of the Kedro project in the
            working directory, environment ``KEDRO_ENV`` (as ``kedro serve`` reads them).

    Returns:
        The FastAPI application. The model is loaded and the log opened when it starts
        (its lifespan), and the log is flushed when it stops.
    """
    service = Service(settings or load_settings())
    app = FastAPI(
        title="California Housing",
        summary="Median house value of a California block group, by the registry's champion.",
        version=__version__,
        lifespan=service.lifespan,
        strict_content_type=False,  # a JSON body without a Content-Type is read as JSON
    )
    app.state.service = service
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(ui_router)
    errors.add_handlers(app)
    app.add_middleware(BodyLimit, limit=service.settings.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=service.metrics)
    if service.settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(service.settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key", "X-Request-ID"],
        )
    return app
