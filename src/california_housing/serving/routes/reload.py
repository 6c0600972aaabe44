"""``POST /reload``: check where the alias points now (API key required)."""

from __future__ import annotations

from fastapi import APIRouter

from california_housing.serving.dependencies import KEY_REQUIRED, ServiceDep, current_model
from california_housing.serving.schemas import ReloadResponse

router = APIRouter(tags=["model"], **KEY_REQUIRED)


@router.post(
    "/reload",
    responses={503: {"description": "The alias points nowhere"}},
)
async def reload(service: ServiceDep) -> ReloadResponse:
    """Check the alias now and switch to its version if it moved."""
    changed = await service.refresh("reload")
    served = current_model(service)  # the model now served (503 if none)
    return ReloadResponse(**served.describe(), changed=changed)
