"""``GET /model`` (the model being served) and ``POST /reload`` (follow the alias now)."""

from __future__ import annotations

from fastapi import APIRouter, Security

from california_housing.serving.dependencies import (
    ServedModelDep,
    ServiceDep,
    current_model,
    require_api_key,
)
from california_housing.serving.schemas import ModelInfo, ReloadResponse

router = APIRouter(tags=["model"])


@router.get("/model", responses={503: {"description": "No model loaded"}})
async def model(served: ServedModelDep) -> ModelInfo:
    """The model being served: version, candidate, data version, domain, its scores."""
    return ModelInfo(**served.describe())


@router.post(
    "/reload",
    dependencies=[Security(require_api_key)],
    responses={
        401: {"description": "API key missing or wrong"},
        503: {"description": "The alias points nowhere"},
    },
)
async def reload(service: ServiceDep) -> ReloadResponse:
    """Check the alias now and switch to its version if it moved."""
    changed = await service.refresh("reload")
    served = current_model(service)  # the model now served (503 if none)
    return ReloadResponse(**served.describe(), changed=changed)
