"""``GET /predictions``: the prediction log, newest first, with feedback, paginated."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from california_housing.serving.dependencies import RETRY, LogDep
from california_housing.serving.log.store import LogUnavailableError
from california_housing.serving.log.tables import as_utc
from california_housing.serving.schemas import PredictionsPage

router = APIRouter(tags=["log"])


@router.get("/predictions", responses={503: {"description": "The prediction log is unavailable"}})
async def list_predictions(
    log: LogDep,
    *,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    model_version: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
    since: Annotated[datetime | None, Query(description="ISO 8601, inclusive")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601, exclusive")] = None,
) -> PredictionsPage:
    """Logged predictions (newest first) with their inputs and feedback, paginated."""
    await asyncio.to_thread(log.wait_written, 2.0)
    try:
        total, items = await asyncio.to_thread(
            log.page,
            limit=limit,
            offset=offset,
            model_version=model_version,
            since=since and as_utc(since),
            until=until and as_utc(until),
        )
    except LogUnavailableError:
        raise HTTPException(503, "The prediction log is unavailable; retry later.", RETRY) from None
    return PredictionsPage(total=total, items=items)
