"""A prediction log with the service's schema (the team contract), written for tests.

Tables ``predictions`` and ``feedback`` as ``kedro serve`` creates them, filled from a
frame of rows with their predictions; used by the monitoring and retrain tests and by
``python -m benchmarks monitoring``.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    Table,
    Text,
    create_engine,
)

from california_housing.schema import RAW_FEATURES, TARGET

metadata = MetaData()
predictions = Table(
    "predictions",
    metadata,
    Column("prediction_id", Text, primary_key=True),
    Column("request_id", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("model_name", Text, nullable=False),
    Column("model_version", Integer, nullable=False),
    *(Column(name, Float, nullable=False) for name in RAW_FEATURES),
    Column(f"predicted_{TARGET}", Float, nullable=False),
    Column("out_of_domain", Boolean, nullable=False),
    Column("domain_violations", Text, nullable=False),
    Column("latency_ms", Float, nullable=False),
)
feedback = Table(
    "feedback",
    metadata,
    Column("prediction_id", Text, ForeignKey("predictions.prediction_id"), primary_key=True),
    Column(TARGET, Float, nullable=True),  # nullable only so tests can write a corrupt row
    Column("received_at", DateTime(timezone=True), nullable=False),
)


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
    created = [start + timedelta(seconds=seconds_apart * i) for i in range(n)]
    logged = pd.DataFrame(
        {
            "prediction_id": ids,
            "request_id": [f"req-{seed}-{i // batch_rows}" for i in range(n)],
            "created_at": created,
            "model_name": model_name,
            "model_version": model_version,
            **{c: rows[c].to_numpy(float) for c in RAW_FEATURES},
            f"predicted_{TARGET}": np.asarray(predicted, float),
            "out_of_domain": rows["Longitude"].to_numpy() >= -119.0,
            "domain_violations": [
                json.dumps(["Longitude lt -119.0"] if lon >= -119.0 else [])
                for lon in rows["Longitude"]
            ],
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
    engine = create_engine(url)
    metadata.create_all(engine)
    with engine.begin() as connection:
        if len(logged):
            connection.execute(predictions.insert(), logged.to_dict(orient="records"))
        if len(fed):
            connection.execute(feedback.insert(), fed.to_dict(orient="records"))
    engine.dispose()
