"""The REST API, built by :func:`create_app`.

Other ASGI servers use the factory: ``uvicorn --factory california_housing.serving.app:create_app``.

Endpoints: ``GET /health``, ``GET /ready``, ``GET /model``, ``POST /predict``,
``POST /feedback``, ``GET /predictions``, ``GET /metrics``, ``POST /reload`` (see README,
"Serving"). The request path of ``/predict`` is: read the body (size-limited), validate it in
one pass from JSON (schemas derived from ``schema.py``), score a numpy matrix with
``scoring.score`` (the function batch inference uses), hand the rows to the prediction log's
buffer, answer. Writing the log happens in the log's own thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from itertools import chain, repeat
from operator import itemgetter
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import orjson
from fastapi import FastAPI, Query, Request
from fastapi.openapi.utils import get_openapi
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from california_housing import __version__
from california_housing.schema import RAW_FEATURES, TARGET
from california_housing.scoring import score
from california_housing.serving import schemas, ui
from california_housing.serving.champion import Champion, NoChampionError
from california_housing.serving.config import ServingSettings, load_settings
from california_housing.serving.metrics import Metrics
from california_housing.serving.prediction_log import LogUnavailableError, PredictionLog

logger = logging.getLogger(__name__)

_JSON = "application/json"
_MAX_ERRORS = 50  # validation errors listed in one 422 answer
_MAX_REQUEST_ID = 64
_PREDICTED = f"predicted_{TARGET}"
_row_values = itemgetter(*RAW_FEATURES)


def new_ids(count: int) -> list[str]:
    """``count`` random uuid4 hex strings, from one read of the OS's random source."""
    raw = np.frombuffer(os.urandom(16 * count), dtype=np.uint8).reshape(count, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    text = raw.tobytes().hex()
    return [text[i : i + 32] for i in range(0, 32 * count, 32)]


def _json(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status_code,
        media_type=_JSON,
        headers=headers,
    )


def _problem(status_code: int, detail: Any, headers: dict[str, str] | None = None) -> Response:
    return _json({"detail": detail}, status_code, headers)


class _BodyTooLargeError(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _BodyTooLargeError
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLargeError
        chunks.append(chunk)
    return b"".join(chunks)


def _validation_errors(exc: ValidationError, prefix: tuple[str, ...] = ("body",)) -> list[Any]:
    """FastAPI-style error list (location, message, type), without echoing the input."""
    return [
        {"loc": [*prefix, *error["loc"]], "msg": error["msg"], "type": error["type"]}
        for error in exc.errors(include_url=False, include_input=False, include_context=False)[
            :_MAX_ERRORS
        ]
    ]


class _RequestMetrics:
    """ASGI middleware: count and time every HTTP request by endpoint and status code."""

    def __init__(self, app: Any, metrics: Metrics, endpoints: set[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.endpoints = endpoints

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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
            path = scope["path"]
            endpoint = path if path in self.endpoints else "other"
            labels = (endpoint, scope["method"], str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.latency.labels(*labels).observe(time.perf_counter() - start)


def _body_schema(name: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {_JSON: {"schema": {"$ref": f"#/components/schemas/{name}"}}},
        },
        "responses": {
            "413": {"description": "Body larger than serving.max_body_bytes"},
            "422": {"description": "Invalid body: each failing field and row is named"},
        },
    }


def create_app(settings: ServingSettings | None = None) -> FastAPI:  # noqa: PLR0915
    """Build the service.

    Args:
        settings: The service's settings; by default those of the Kedro project in the
            working directory, environment ``KEDRO_ENV`` (as ``kedro serve`` reads them).

    Returns:
        The FastAPI application. The model is loaded and the log opened when it starts
        (its lifespan), and the log is flushed when it stops.
    """
    settings = settings or load_settings()
    metrics = Metrics()
    champion = Champion(
        settings.model_name, settings.model_alias, settings.tracking_uri, settings.filters
    )
    log = PredictionLog(
        settings.log_db_url,
        buffer_rows=settings.log_buffer_rows,
        batch_rows=settings.log_batch_rows,
        flush_seconds=settings.log_flush_seconds,
        spill_path=Path(settings.log_spill_path) if settings.log_spill_path else None,
    )
    predict_request = schemas.predict_request_model(settings.max_rows)
    body_models: dict[str, type[BaseModel]] = {
        "PredictRequest": predict_request,
        "FeedbackRequest": schemas.FeedbackRequest,
    }

    async def refresh(reason: str) -> bool:
        try:
            changed = await asyncio.to_thread(champion.refresh)
        except NoChampionError as exc:
            logger.warning("%s (%s)", exc, reason)
            return False
        current = champion.current
        if changed and current is not None:
            metrics.served(current.name, current.version, current.alias)
        return changed

    async def follow_alias() -> None:
        while True:
            await asyncio.sleep(settings.poll_seconds)
            try:
                await refresh("poll")
            except Exception:
                logger.exception("Checking the %s alias failed; the served model is unchanged.",
                                 settings.model_alias)  # fmt: skip

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(log.open)
        await refresh("start")
        poller = asyncio.create_task(follow_alias()) if settings.poll_seconds > 0 else None
        try:
            yield
        finally:
            if poller is not None:
                poller.cancel()
            spilled = await asyncio.to_thread(log.close, settings.shutdown_flush_seconds)
            if spilled:
                logger.error("%d prediction log rows were kept in %s.", spilled, log.spill_path)

    app = FastAPI(
        title="California Housing",
        summary="Median house value of a California block group, by the registry's champion.",
        version=__version__,
        lifespan=lifespan,
    )
    api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)

    def authorised(request: Request) -> Response | None:
        if settings.api_key is None:
            return None
        given = request.headers.get("x-api-key", "")
        if secrets.compare_digest(given.encode(), settings.api_key.encode()):
            return None
        return _problem(
            401, "This endpoint needs the service's API key in the X-API-Key header.",
            {"WWW-Authenticate": "X-API-Key"},
        )  # fmt: skip

    def no_model() -> Response:
        return _problem(
            503,
            champion.last_error
            or f"No model loaded yet: the registry has no {settings.model_name}@"
            f"{settings.model_alias}.",
            {"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        logger.exception("Unhandled error on %s %s", request.method, request.url.path)
        return _problem(500, "Internal error; the service log has the details.")

    @app.get("/health", response_model=schemas.Status, tags=["status"])
    async def health() -> Response:
        """The process is up."""
        return _json({"status": "ok"})

    @app.get(
        "/ready",
        response_model=schemas.Status,
        tags=["status"],
        responses={503: {"model": schemas.Status, "description": "Not ready"}},
    )
    async def ready() -> Response:
        """A model is loaded and the prediction log takes writes (503 otherwise)."""
        problems = []
        if champion.current is None:
            problems.append("no model loaded")
        if not log.available:
            problems.append(f"prediction log unavailable ({log.last_error})")
        if log.full:
            problems.append("prediction log buffer full")
        if problems:
            return _json({"status": "not ready", "detail": "; ".join(problems)}, 503)
        return _json({"status": "ready"})

    @app.get(
        "/model",
        response_model=schemas.ModelInfo,
        tags=["model"],
        responses={503: {"description": "No model loaded"}},
    )
    async def model() -> Response:
        """The model being served: version, candidate, data version, domain, its scores."""
        current = champion.current
        if current is None:
            return no_model()
        return _json(current.describe())

    @app.post(
        "/predict",
        response_model=schemas.PredictResponse,
        tags=["model"],
        openapi_extra=_body_schema("PredictRequest")
        | {"responses": {
            "413": {"description": "Body larger than serving.max_body_bytes"},
            "422": {"description": "Invalid rows: each failing field and row is named"},
            "503": {"description": "No model, or the prediction log cannot keep up"},
        }},
    )  # fmt: skip
    async def predict(request: Request) -> Response:
        """Predict MedHouseVal (in 100k USD) for 1 to ``max_rows`` rows of the 8 raw columns."""
        start = time.perf_counter()
        try:
            body = await _read_body(request, settings.max_body_bytes)
        except _BodyTooLargeError:
            return _problem(413, f"Body larger than {settings.max_body_bytes} bytes.")
        try:
            rows = predict_request.model_validate_json(body).rows  # type: ignore[attr-defined]
        except ValidationError as exc:
            return _problem(422, _validation_errors(exc))
        current = champion.current
        if current is None:
            return no_model()
        count = len(rows)
        features = np.fromiter(
            chain.from_iterable(map(_row_values, rows)), dtype="float64", count=count * 8
        ).reshape(count, 8)
        scores = score(current.model, features, current.filters)
        request_id = request.headers.get("x-request-id", "")[:_MAX_REQUEST_ID] or uuid.uuid4().hex
        ids = new_ids(count)
        predicted = scores.predictions.tolist()
        violations = scores.violations
        out = [bool(v) for v in violations]
        latency_ms = (time.perf_counter() - start) * 1000.0
        logged = list(
            zip(  # the columns of PREDICTION_COLUMNS, in order
                ids,
                repeat(request_id),
                repeat(datetime.now(UTC)),
                repeat(current.name),
                repeat(current.version),
                *features.T.tolist(),
                predicted,
                out,
                [orjson.dumps(v).decode() if v else "[]" for v in violations],
                repeat(latency_ms),
            )
        )
        if not log.submit(logged):
            return _problem(
                503,
                "The prediction log cannot keep up (its database is slow or unavailable); "
                "nothing was predicted. Retry later.",
                {"Retry-After": "5"},
            )
        version_label = str(current.version)
        metrics.rows_predicted.labels(version_label).inc(count)
        if any(out):
            metrics.rows_out_of_domain.labels(version_label).inc(sum(out))
        return _json(
            {
                "model_name": current.name,
                "model_version": current.version,
                "predictions": [
                    {
                        "prediction_id": ids[i],
                        _PREDICTED: predicted[i],
                        "unit": schemas.UNIT,
                        "out_of_domain": out[i],
                        "domain_violations": violations[i],
                    }
                    for i in range(count)
                ],
            },
            headers={"X-Request-ID": request_id},
        )

    @app.post(
        "/feedback",
        response_model=schemas.FeedbackResponse,
        tags=["model"],
        dependencies=[],
        openapi_extra=_body_schema("FeedbackRequest")
        | {"security": [{"APIKeyHeader": []}] if settings.api_key else []},
        responses={
            401: {"description": "API key missing or wrong"},
            503: {"description": "The prediction log is unavailable"},
        },
    )
    async def post_feedback(request: Request) -> Response:  # noqa: PLR0911
        """Store observed values for earlier predictions (unknown ids: 422, nothing stored)."""
        if (denied := authorised(request)) is not None:
            return denied
        try:
            body = await _read_body(request, settings.max_body_bytes)
        except _BodyTooLargeError:
            return _problem(413, f"Body larger than {settings.max_body_bytes} bytes.")
        try:
            items = schemas.FeedbackRequest.model_validate_json(body).feedback
        except ValidationError as exc:
            return _problem(422, _validation_errors(exc))
        try:
            unknown = await asyncio.to_thread(log.unknown_ids, [i.prediction_id for i in items])
        except LogUnavailableError:
            return _problem(503, "The prediction log is unavailable; retry later.",
                            {"Retry-After": "5"})  # fmt: skip
        if unknown:
            return _problem(
                422,
                [
                    {"loc": ["body", "feedback", n, "prediction_id"],
                     "msg": "Unknown prediction id: no prediction was logged under it",
                     "type": "unknown_prediction_id"}
                    for n, item in enumerate(items) if item.prediction_id in set(unknown)
                ][:_MAX_ERRORS],
            )  # fmt: skip
        received_at = datetime.now(UTC)
        rows = [(i.prediction_id, i.MedHouseVal, received_at) for i in items]  # FEEDBACK_COLUMNS
        if not log.submit_feedback(rows):
            return _problem(503, "The prediction log cannot keep up; retry later.",
                            {"Retry-After": "5"})  # fmt: skip
        metrics.feedback.inc(len(rows))
        return _json({"received": len(rows)})

    @app.get(
        "/predictions",
        response_model=schemas.PredictionsPage,
        tags=["log"],
        responses={503: {"description": "The prediction log is unavailable"}},
    )
    async def list_predictions(
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
        model_version: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
        since: Annotated[datetime | None, Query(description="ISO 8601, inclusive")] = None,
        until: Annotated[datetime | None, Query(description="ISO 8601, exclusive")] = None,
    ) -> Response:
        """Logged predictions (newest first) with their inputs and feedback, paginated."""
        since, until = (_utc(t) for t in (since, until))
        await asyncio.to_thread(log.wait_written, 2.0)
        try:
            total, items = await asyncio.to_thread(
                log.page,
                limit=limit,
                offset=offset,
                model_version=model_version,
                since=since,
                until=until,
            )
        except LogUnavailableError:
            return _problem(503, "The prediction log is unavailable; retry later.",
                            {"Retry-After": "5"})  # fmt: skip
        return _json({"total": total, "items": items})

    @app.get("/metrics", tags=["status"], response_class=Response)
    async def get_metrics() -> Response:
        """Prometheus metrics (text format)."""
        metrics.log_buffered.set(log.buffered)
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.post(
        "/reload",
        response_model=schemas.ModelInfo,
        tags=["model"],
        openapi_extra={"security": [{"APIKeyHeader": []}] if settings.api_key else []},
        responses={
            401: {"description": "API key missing or wrong"},
            503: {"description": "The alias points nowhere"},
        },
    )
    async def reload(request: Request) -> Response:
        """Check the alias now and switch to its version if it moved."""
        if (denied := authorised(request)) is not None:
            return denied
        changed = await refresh("reload")
        current = champion.current
        if current is None:
            return no_model()
        return _json(current.describe() | {"changed": changed})

    app.include_router(ui.create_router(settings.data_root, env=settings.env))
    _ = api_key_header  # documented security scheme (checked in `authorised`)
    endpoints = {route.path for route in app.routes if hasattr(route, "methods")}
    app.add_middleware(_RequestMetrics, metrics=metrics, endpoints=endpoints)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware  # noqa: PLC0415

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key", "X-Request-ID"],
        )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            components = spec.setdefault("components", {}).setdefault("schemas", {})
            for name, model_class in body_models.items():
                body = model_class.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(body.pop("$defs", {}))
                components[name] = body
            spec["components"].setdefault("securitySchemes", {})["APIKeyHeader"] = {
                "type": "apiKey", "in": "header", "name": "X-API-Key",
            }  # fmt: skip
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.state.settings = settings
    app.state.champion = champion
    app.state.log = log
    app.state.metrics = metrics
    return app


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
