"""The service's web pages, served by ``kedro serve`` itself under ``/ui``.

Four pages (predict, batch, model, monitoring) are static HTML with a little JavaScript that
calls the service's own JSON endpoints (``/predict``, ``/model``, ``/predictions``,
``/monitoring/latest``) from the same origin. :data:`router` serves them, plus the few
read-only routes the pages need that the API does not have: the form's fields (from the one
raw schema) and the last report's leaderboard and figures.
"""

from california_housing.serving.ui.router import feature_fields, router

__all__ = ["feature_fields", "router"]
