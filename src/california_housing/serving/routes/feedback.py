"""``POST /feedback``: the observed value of earlier predictions (API key required)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException
from fastapi.exceptions import RequestValidationError

from california_housing.serving.dependencies import KEY_REQUIRED, RETRY, ServiceDep
from california_housing.serving.log.store import LogUnavailableError
from california_housing.serving.schemas import FeedbackRequest, FeedbackResponse

router = APIRouter(tags=["model"], **KEY_REQUIRED)


@router.post(
    "/feedback",
    responses={
        413: {"description": "Body larger than serving.max_body_bytes"},
        503: {"description": "The prediction log is unavailable"},
    },
)
async def post_feedback(body: FeedbackRequest, service: ServiceDep) -> FeedbackResponse:
    """Store observed values for earlier predictions (unknown ids: 422, nothing stored)."""
    items, log = body.feedback, service.log
    try:
        unknown = set(await asyncio.to_thread(log.unknown_ids, [i.prediction_id for i in items]))
    except LogUnavailableError:
        raise HTTPException(503, "The prediction log is unavailable; retry later.", RETRY) from None
    if unknown:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "feedback", n, "prediction_id"),
                    "msg": "Unknown prediction id: no prediction was logged under it",
                    "type": "unknown_prediction_id",
                }
                for n, item in enumerate(items)
                if item.prediction_id in unknown
            ]
        )
    received_at = datetime.now(UTC)
    rows = [(i.prediction_id, i.observed, received_at) for i in items]  # FEEDBACK_COLUMNS
    if not log.submit_feedback(rows):
        raise HTTPException(503, "The prediction log cannot keep up; retry later.", RETRY)
    service.metrics.feedback.inc(len(rows))
    return FeedbackResponse(received=len(rows))
