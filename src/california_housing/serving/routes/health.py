"""``GET /health`` (the process is up) and ``GET /ready`` (it can answer predictions)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from california_housing.serving.dependencies import ServiceDep
from california_housing.serving.schemas import Status

router = APIRouter(tags=["status"])


@router.get("/health", response_model_exclude_none=True)
async def health() -> Status:
    """The process is up."""
    return Status(status="ok")


@router.get(
    "/ready",
    response_model_exclude_none=True,
    responses={503: {"model": Status, "description": "Not ready"}},
)
async def ready(service: ServiceDep, response: Response) -> Status:
    """A model is loaded and the prediction log takes writes (503 otherwise)."""
    log = service.log
    problems = []
    if service.champion.current is None:
        problems.append("no model loaded")
    if not log.available:
        problems.append(f"prediction log unavailable ({log.last_error})")
    if log.full:
        problems.append("prediction log buffer full")
    if problems:
        response.status_code = 503
        return Status(status="not ready", detail="; ".join(problems))
    return Status(status="ready")
