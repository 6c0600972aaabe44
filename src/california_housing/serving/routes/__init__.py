"""The service's routes, one ``APIRouter`` per concern; ``create_app`` includes them all."""

from california_housing.serving.routes import (
    feedback,
    health,
    metrics,
    model,
    monitoring,
    predict,
    predictions,
    reload,
)

ROUTERS = (
    health.router,
    model.router,
    reload.router,
    predict.router,
    feedback.router,
    predictions.router,
    metrics.router,
    monitoring.router,
)
