"""The service's ASGI middleware: every request counted and timed, bodies limited in size."""

from __future__ import annotations

import time
from typing import Any

from california_housing.serving.errors import too_large
from california_housing.serving.metrics import Metrics


class HttpMiddleware:
    """Wraps an ASGI app: HTTP requests go through :meth:`handle`, anything else straight on.

    Args:
        app: The application it wraps.
    """

    def __init__(self, app: Any) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Dispatch one ASGI call."""
        if scope["type"] == "http":
            await self.handle(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        """Serve an HTTP request (here: pass it on)."""
        await self.app(scope, receive, send)


class RequestMetrics(HttpMiddleware):
    """Count and time every HTTP request by endpoint and status code.

    The endpoint is the path of the route that answered (``/predict``,
    ``/ui/static/{name}``); a path no route knows is counted as ``other``.

    Args:
        app: The application it wraps.
        metrics: Where to count.
    """

    def __init__(self, app: Any, metrics: Metrics) -> None:
        """Wrap ``app``."""
        super().__init__(app)
        self.metrics = metrics

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        """Pass the request on; count it with the status code it was answered with."""
        start = time.perf_counter()
        status = 500

        async def send_status(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            endpoint = getattr(scope.get("route"), "path", None) or "other"
            labels = (endpoint, scope["method"], str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.latency.labels(*labels).observe(time.perf_counter() - start)


class BodyLimit(HttpMiddleware):
    """A body over ``limit`` bytes is answered 413 before it is all read.

    The route reading the body gets the 413 (as an ``HTTPException``) on its first read when
    the declared ``Content-Length`` is over the limit, else as soon as the streamed body grows
    past it; a route that reads no body is not concerned.

    Args:
        app: The application it wraps.
        limit: Most bytes of a request body.
    """

    def __init__(self, app: Any, limit: int) -> None:
        """Wrap ``app``."""
        super().__init__(app)
        self.limit = limit

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        """Pass the request on with its body counted."""
        declared = dict(scope["headers"]).get(b"content-length", b"")
        size = int(declared) if declared.isdigit() else 0

        async def counted() -> Any:
            nonlocal size
            if size > self.limit:
                raise too_large(self.limit)  # answered by the app's HTTPException handler
            message = await receive()
            size += len(message.get("body", b"")) if not declared else 0
            if size > self.limit:
                raise too_large(self.limit)
            return message

        await self.app(scope, counted, send)
