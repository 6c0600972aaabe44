"""A prediction log written without a service: rows as ``kedro serve`` logs them.

For the tests of the monitoring and retrain pipelines and for ``python -m benchmarks
monitoring``: :func:`log_rows` makes the rows a service would have logged for given inputs
and predictions, :func:`write_log` appends them to a log (its tables created if missing).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from california_housing.schema import PREDICTION, RAW_FEATURES, TARGET
from california_housing.serving.log.store import create_log_engine, create_tables
from california_housing.serving.log.tables import feedback, predictions

#: The rule a row east of this longitude breaks (the filtered data versions' domain).
_EAST = -119.0


def log_rows(
    rows: pd.DataFrame,
    predicted: np.ndarray,
    *,
    model_version: int = 1,
    model_name: str = "california-housing-test",
    start: datetime | None = None,
    seconds_apart: float = 1.0,
    batch_rows: int = 100,
    feedback_every: int = 0,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Prediction and feedback rows, as the service would log these rows.

    Args:
        rows: The 8 features and the true target.
        predicted: The model's prediction per row.
        model_version: Version that answered.
        model_name: Registered model name.
        start: Time of the first prediction (default: an hour ago).
        seconds_apart: Time between consecutive predictions.
        batch_rows: Rows per request id.
        feedback_every: Post the true value of every n-th row (0: none).
        seed: Seed of the ids and latencies.

    Returns:
        The ``predictions`` rows and the ``feedback`` rows.
    """
    rng = np.random.default_rng(seed)
    start = start or datetime.now(UTC) - timedelta(hours=1)
    n = len(rows)
    ids = [uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | i).hex for i in range(n)]
    east = rows["Longitude"].to_numpy() >= _EAST
    logged = pd.DataFrame(
        {
            "prediction_id": ids,
            "request_id": [f"req-{seed}-{i // batch_rows}" for i in range(n)],
            "created_at": [start + timedelta(seconds=seconds_apart * i) for i in range(n)],
            "model_name": model_name,
            "model_version": model_version,
            **{c: rows[c].to_numpy(float) for c in RAW_FEATURES},
            PREDICTION: np.asarray(predicted, float),
            "out_of_domain": east,
            "domain_violations": [json.dumps([f"Longitude lt {_EAST}"] if e else []) for e in east],
            "latency_ms": rng.gamma(2.0, 1.5, n),
        }
    )
    every = feedback_every or n + 1
    labelled = logged.iloc[::every] if feedback_every else logged.iloc[:0]
    fed = pd.DataFrame(
        {
            "prediction_id": labelled["prediction_id"].to_numpy(),
            TARGET: rows[TARGET].to_numpy(float)[::every][: len(labelled)],
            "received_at": [t + timedelta(seconds=30) for t in labelled["created_at"]],
        }
    )
    return logged, fed


def write_log(url: str, logged: pd.DataFrame, fed: pd.DataFrame) -> None:
    """Create the log's tables at ``url`` (if missing) and append the rows."""
    engine = create_log_engine(url)
    try:
        create_tables(engine)
        with engine.begin() as connection:
            if len(logged):
                connection.execute(predictions.insert(), logged.to_dict(orient="records"))
            if len(fed):
                connection.execute(feedback.insert(), fed.to_dict(orient="records"))
    finally:
        engine.dispose()
