"""The service's web pages, served by ``kedro serve`` itself under ``/ui``.

Four pages (predict, batch, model, monitoring) are static HTML with a little JavaScript that
calls the service's own JSON endpoints (``/predict``, ``/model``, ``/predictions``) from the
same origin. :func:`create_router` adds them, plus the few read-only routes the pages need
that the API does not have: the form's fields (from the one raw schema), the last report's
leaderboard and figures, and ``GET /monitoring/latest``.
"""

from california_housing.serving.ui.router import create_router, feature_fields

__all__ = ["create_router", "feature_fields"]
