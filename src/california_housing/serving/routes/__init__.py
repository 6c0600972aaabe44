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

#: In the order requests are matched against them: the busiest first.
ROUTERS = (
    predict.router,
    health.router,
    feedback.router,
    model.router,
    reload.router,
    predictions.router,
    metrics.router,
    monitoring.router,
)
