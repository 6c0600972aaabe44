"""What the routes depend on: the service's parts, the served model, the API key.

Each is a FastAPI dependency, named in the route's signature (and so in its OpenAPI entry):
``Annotated`` aliases below (``ServiceDep``, ``ServedModelDep``...) keep signatures short.
They are ``async def``: none waits for anything, and FastAPI runs a plain ``def`` dependency
in its thread pool, a hop per request that costs more than the dependency itself.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from california_housing.serving.champion import ServedModel
from california_housing.serving.log.writer import PredictionLog
from california_housing.serving.service import Service
from california_housing.serving.settings import ServingSettings

#: Retry-After on every 503: the log or the model is expected back soon.
RETRY = {"Retry-After": "5"}


def service_of(request: Request) -> Service:
    """The service the app was built with (``create_app``)."""
    return request.app.state.service


async def get_service(request: Request) -> Service:
    """The service, as a dependency."""
    return service_of(request)


ServiceDep = Annotated[Service, Depends(get_service)]


async def get_settings(service: ServiceDep) -> ServingSettings:
    """The service's settings."""
    return service.settings


SettingsDep = Annotated[ServingSettings, Depends(get_settings)]


async def get_log(service: ServiceDep) -> PredictionLog:
    """The prediction log."""
    return service.log


LogDep = Annotated[PredictionLog, Depends(get_log)]


def current_model(service: Service) -> ServedModel:
    """The model a request is answered with (the one served when it arrived).

    Raises:
        HTTPException: 503 while no model is loaded (the alias points nowhere yet).
    """
    current = service.champion.current
    if current is None:
        settings = service.settings
        raise HTTPException(
            503,
            service.champion.last_error
            or f"No model loaded yet: the registry has no {settings.model_name}@"
            f"{settings.model_alias}.",
            headers=RETRY,
        )
    return current


async def served_model(service: ServiceDep) -> ServedModel:
    """The model a request is answered with: :func:`current_model` as a dependency."""
    return current_model(service)


ServedModelDep = Annotated[ServedModel, Depends(served_model)]

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,  # no key configured: no key needed (kedro serve binds loopback only)
    description="The service's API key (serving.api_key / SERVING_API_KEY)",
)


async def require_api_key(
    service: ServiceDep, given: Annotated[str | None, Security(api_key_header)]
) -> None:
    """Let the request through with the service's API key, or when it has none.

    Raises:
        HTTPException: 401 when the key is missing or wrong.
    """
    expected = service.settings.api_key
    if expected is None:
        return
    if given is None or not secrets.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            401,
            "This endpoint needs the service's API key in the X-API-Key header.",
            headers={"WWW-Authenticate": "X-API-Key"},
        )


#: ``APIRouter`` options for operations that need the API key: ``APIRouter(**KEY_REQUIRED)``.
KEY_REQUIRED: dict[str, Any] = {
    "dependencies": [Security(require_api_key)],
    "responses": {401: {"description": "API key missing or wrong"}},
}
