"""How errors are answered: always ``{"detail": ...}``, never a traceback.

- an invalid request: 422, ``detail`` lists each failing field (``loc``, ``msg``, ``type``;
  at most :data:`MAX_ERRORS`, without echoing the input back);
- a body over ``serving.max_body_bytes``: 413, naming the limit (``middleware.BodyLimit``);
- anything unexpected: 500, details in the service's log only.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

logger = logging.getLogger(__name__)

MAX_ERRORS = 50  # validation errors listed in one 422 answer


def validation_errors(errors: Any) -> list[dict[str, Any]]:
    """The first :data:`MAX_ERRORS` errors: location, message and type only."""
    return [
        {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
        for error in list(errors)[:MAX_ERRORS]
    ]


async def invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    """422 naming each failing field and row."""
    assert isinstance(exc, RequestValidationError)  # noqa: S101 (registered for it)
    return JSONResponse({"detail": validation_errors(exc.errors())}, status_code=422)


def too_large(limit: int) -> HTTPException:
    """413 naming the limit."""
    return HTTPException(
        413, f"Body larger than {limit} bytes (serving.max_body_bytes); send fewer rows."
    )


async def internal_error(request: Request, _exc: Exception) -> JSONResponse:
    """500 without internals; the traceback goes to the service's log."""
    logger.exception("Unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "Internal error; the service log has the details."}, 500)


def add_handlers(app: FastAPI) -> None:
    """Register the handlers above on ``app``."""
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Exception, internal_error)
