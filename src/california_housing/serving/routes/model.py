"""``GET /model``: the model being served."""

from __future__ import annotations

from fastapi import APIRouter

from california_housing.serving.dependencies import ServedModelDep
from california_housing.serving.schemas import ModelInfo

router = APIRouter(tags=["model"])


@router.get("/model", responses={503: {"description": "No model loaded"}})
async def model(served: ServedModelDep) -> ModelInfo:
    """The model being served: version, candidate, data version, domain, its scores."""
    return ModelInfo(**served.describe())
