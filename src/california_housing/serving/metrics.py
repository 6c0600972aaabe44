"""Prometheus metrics of the service (``GET /metrics``).

Each app owns its registry. With several worker processes (``kedro serve --workers N``),
each process counts its own requests: ``kedro serve`` then sets ``PROMETHEUS_MULTIPROC_DIR``
(prometheus-client's multiprocess mode) and ``/metrics`` adds up every worker's files.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

#: Latency buckets in seconds: sub-millisecond to seconds (1,000-row batches).
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip


class Metrics:
    """The service's counters, histograms and gauges, in their own registry."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        """Create the metrics."""
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry()
        registry = None if self.multiprocess else self.registry
        self.requests = Counter(
            "serving_requests_total",
            "HTTP requests by endpoint and status code.",
            ["endpoint", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "serving_request_duration_seconds",
            "Time to answer an HTTP request, by endpoint and status code.",
            ["endpoint", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.rows_predicted = Counter(
            "serving_rows_predicted_total", "Rows scored and logged.", ["model_version"],
            registry=registry,
        )  # fmt: skip
        self.rows_out_of_domain = Counter(
            "serving_rows_out_of_domain_total",
            "Rows scored outside the model's training domain.",
            ["model_version"],
            registry=registry,
        )
        self.feedback = Counter(
            "serving_feedback_received_total", "Feedback rows accepted.", registry=registry
        )
        self.model_version = Gauge(
            "serving_model_version",
            "The model being served: 1 for its name/version/alias, 0 for versions served before.",
            ["model_name", "model_version", "alias"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.log_buffered = Gauge(
            "serving_log_buffered_rows",
            "Rows waiting to be written to the prediction log.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._served: tuple[str, str, str] | None = None
        if self.multiprocess:
            MultiProcessCollector(self.registry)

    def served(self, name: str, version: int, alias: str) -> None:
        """Point the model gauge at the version now served (1; versions served before: 0)."""
        if self._served is not None:
            self.model_version.labels(*self._served).set(0)
        self._served = (name, str(version), alias)
        self.model_version.labels(*self._served).set(1)

    def render(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)
