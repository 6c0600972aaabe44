"""The prediction log's tables: the one definition of its schema.

``kedro serve`` creates and writes them (:mod:`.writer`) and reads them (:mod:`.store`); the
monitoring and retrain pipelines query them (``datasets.PredictionLogDataset``), and tests and
benchmarks fill them, all from these :class:`~sqlalchemy.Table` objects. The same definition
serves SQLite and PostgreSQL.

Timestamps are stored in UTC (:class:`UtcTimestamp`): SQLite keeps them as SQLAlchemy's text
form (which sorts and compares as time), PostgreSQL as ``timestamp with time zone``; both read
back as timezone-aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    Table,
    Text,
    TypeDecorator,
)

from california_housing.schema import PREDICTION, RAW_FEATURES, TARGET


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive one is taken as UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class UtcTimestamp(TypeDecorator[datetime]):
    """A point in time, written in UTC and read back as an aware UTC datetime."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC before the database sees it (SQLite keeps no zone)."""
        return None if value is None else as_utc(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Read as UTC (SQLite gives it back naive)."""
        return None if value is None else as_utc(value)


METADATA = MetaData()

#: One row per prediction (per row of a ``/predict`` request).
predictions = Table(
    "predictions",
    METADATA,
    Column("prediction_id", Text, primary_key=True),
    Column("request_id", Text, nullable=False),
    Column("created_at", UtcTimestamp, nullable=False, index=True),
    Column("model_name", Text, nullable=False),
    Column("model_version", Integer, nullable=False),
    *(Column(name, Float, nullable=False) for name in RAW_FEATURES),
    Column(PREDICTION, Float, nullable=False),
    Column("out_of_domain", Boolean, nullable=False),
    Column("domain_violations", Text, nullable=False),  # a JSON list of the rules broken
    Column("latency_ms", Float, nullable=False),
)

#: The observed value of a prediction, when it arrives (the latest one wins).
feedback = Table(
    "feedback",
    METADATA,
    Column("prediction_id", Text, ForeignKey("predictions.prediction_id"), primary_key=True),
    Column(TARGET, Float, nullable=False),
    Column("received_at", UtcTimestamp, nullable=False),
)

#: Column order of a row tuple of each table, as the writer takes them.
PREDICTION_COLUMNS: tuple[str, ...] = tuple(str(name) for name in predictions.columns.keys())
FEEDBACK_COLUMNS: tuple[str, ...] = tuple(str(name) for name in feedback.columns.keys())
#: Each table's timestamp column.
TIME_COLUMNS = {"predictions": "created_at", "feedback": "received_at"}


def stored_timestamp(dialect: Dialect) -> Callable[[datetime], Any]:
    """How ``dialect`` is sent a timestamp of these tables (SQLite: SQLAlchemy's text form).

    For writers that hand rows to the driver directly (the DB-API's ``executemany``), so
    they store exactly what a SQLAlchemy statement would.

    Args:
        dialect: The database's dialect.

    Returns:
        A function of an aware (or UTC) datetime.
    """
    column_type = predictions.c.created_at.type
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    return process or as_utc
