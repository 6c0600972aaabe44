"""``GET /metrics``: the service's Prometheus metrics (every worker's, with ``--workers``)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from california_housing.serving.dependencies import ServiceDep

router = APIRouter(tags=["status"])


@router.get("/metrics", response_class=Response)
async def get_metrics(service: ServiceDep) -> Response:
    """Prometheus metrics (text format)."""
    service.metrics.log_buffered.set(service.log.buffered)
    return Response(service.metrics.render(), media_type=service.metrics.content_type)
