"""``GET /monitoring/latest``: the latest decision of the monitoring pipeline."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from california_housing.serving.dependencies import SettingsDep
from california_housing.serving.files import env_option, modified, read_json, shown

router = APIRouter(tags=["monitoring"])


@router.get(
    "/monitoring/latest",
    responses={
        200: {"description": "The latest decision.json of the monitoring pipeline"},
        404: {"description": "The monitoring pipeline has not run yet"},
        503: {"description": "decision.json is being written or is damaged"},
    },
)
def monitoring_latest(settings: SettingsDep) -> dict[str, Any]:
    """The latest monitoring decision: retrain or not, why, drift per feature, live error."""
    path, rerun = settings.monitoring_decision_path, f"kedro run{env_option(settings.env)}"
    if path is None or not path.is_file():
        raise HTTPException(
            404,
            f"No monitoring decision yet: {shown(path, 'monitoring_decision')} does not exist. "
            f"Run `{rerun} --pipelines monitoring` once the service has logged predictions.",
        )
    try:
        decision = read_json(path)
    except (OSError, ValueError):
        raise HTTPException(
            503,
            "The monitoring decision could not be read (it is being written or is damaged); "
            f"retry, or rerun `{rerun} --pipelines monitoring`.",
        ) from None
    if not isinstance(decision, dict):
        raise HTTPException(503, "The monitoring decision is not a JSON object; rerun monitoring.")
    decision.setdefault("written_at", modified(path))
    return decision
