"""Reading a window of the prediction log across the database and its archive.

The queries are ``select()``s over the log's tables; :func:`read` runs one on the database and
adds the archived rows of the same window (``serving/log/archive.py``), one copy of each
prediction (the database's, if a crashed archive run left both). :class:`ValueChunks` streams
the window's numbers instead, through the database driver: a window of ten million rows is
read a chunk at a time, never held whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Boolean, Engine, Integer, Select, cast, create_engine, distinct, func, select

from california_housing.schema import PREDICTION, RAW_FEATURES, TARGET
from california_housing.serving.log import archive
from california_housing.serving.log.store import LogUnavailableError, driver_statement, unreadable
from california_housing.serving.log.tables import (
    UtcTimestamp,
    feedback,
    predictions,
)

_p, _f = predictions.c, feedback.c

#: Columns of the numbers monitoring streams (:class:`ValueChunks`), in matrix order.
VALUE_COLUMNS = ["model_version", *RAW_FEATURES, PREDICTION, "latency_ms"]


def _in_window(since: datetime, until: datetime) -> Any:
    return (_p.created_at >= since) & (_p.created_at < until)


def values(since: datetime, until: datetime) -> Select:
    """The numbers of the window's predictions (see :data:`VALUE_COLUMNS`)."""
    return select(*(_p[name] for name in VALUE_COLUMNS)).where(_in_window(since, until))


def labelled(since: datetime, until: datetime) -> Select:
    """The window's predictions that got feedback, with the observed value.

    The ``IN`` restates the join so that SQLite's planner starts from the feedback (a tenth
    of the predictions, or fewer) and looks each prediction up by its key, rather than
    walking the window's predictions and looking for their feedback: 8 s instead of 21 s
    over a window of 10 million predictions (``python -m benchmarks monitoring``).
    """
    return (
        select(
            _p.prediction_id,
            _p.created_at,
            _p.model_version,
            _p.Latitude,
            _p.Longitude,
            _p[PREDICTION],
            _f[TARGET],
        )
        .join_from(feedback, predictions)
        .where(_in_window(since, until), _p.prediction_id.in_(select(_f.prediction_id)))
    )


def traffic(since: datetime, until: datetime) -> Select:
    """The window's volume per model version: rows, out-of-domain rows, requests, first/last."""
    return (
        select(
            _p.model_version,
            func.count().label("rows"),
            func.sum(cast(_p.out_of_domain, Integer)).label("out_of_domain_rows"),
            func.count(distinct(_p.request_id)).label("requests"),
            func.min(_p.created_at).label("first_prediction_at"),
            func.max(_p.created_at).label("last_prediction_at"),
        )
        .where(_in_window(since, until))
        .group_by(_p.model_version)
    )


#: How the per-version volumes of the database and of the archive's days add up.
_VOLUME = {
    "rows": "sum",
    "out_of_domain_rows": "sum",
    "requests": "sum",  # a request's rows share one time, so one day
    "first_prediction_at": "min",
    "last_prediction_at": "max",
}


#: How the archived rows of a query are read: a function of the archive's location and of
#: the database (for the rows a crashed archive run left in both), a frame per day.
Archived = Callable[[str, Engine], Iterator[pd.DataFrame]]


def archived_traffic(since: datetime, until: datetime) -> Archived:
    """The columns of :func:`traffic` for each of the window's archived days.

    A row the database holds too (a crashed archive run's) counts once, as the database's.
    """

    def volumes(location: str, engine: Engine) -> Iterator[pd.DataFrame]:
        wanted = ["prediction_id", "model_version", "out_of_domain", "request_id", "created_at"]
        for day in archive.days_in(location, since, until):
            rows = archive.in_window(
                archive.read_day(location, "predictions", day, wanted), since, until
            )
            yield (
                _without_leftovers(engine, rows)
                .groupby("model_version")
                .agg(
                    rows=("request_id", "size"),
                    out_of_domain_rows=("out_of_domain", "sum"),
                    requests=("request_id", "nunique"),
                    first_prediction_at=("created_at", "min"),
                    last_prediction_at=("created_at", "max"),
                )
                .reset_index()
            )

    return volumes


def add_volumes(database: pd.DataFrame, archived: list[pd.DataFrame]) -> pd.DataFrame:
    """Per-version volumes of the database and of the archive's days, added up."""
    frames = [part for part in [database, *archived] if len(part)]
    if not frames:
        return pd.DataFrame(columns=["model_version", *_VOLUME])
    merged = pd.concat(frames, ignore_index=True)
    for column in ("first_prediction_at", "last_prediction_at"):
        merged[column] = pd.to_datetime(merged[column], utc=True)
    return merged.groupby("model_version").agg(_VOLUME).reset_index()


@dataclass(frozen=True)
class ValueChunks:
    """The numbers of a window's predictions, as float matrices of at most ``rows`` rows.

    Iterable more than once: each iteration reads the window again, from the database (a
    server-side cursor on PostgreSQL) and then from the archive.

    Attributes:
        url: The log database's SQLAlchemy URL.
        since: Start of the window (inclusive, UTC).
        until: End of the window (exclusive, UTC).
        location: The archive's folder or fsspec URL (``None``: no archive).
        rows: Rows per chunk.
    """

    url: str
    since: datetime
    until: datetime
    location: str | None
    rows: int = 200_000

    columns = VALUE_COLUMNS

    def __iter__(self) -> Iterator[np.ndarray]:
        """Chunks of the window: columns in :data:`VALUE_COLUMNS` order.

        The next chunk is read on a thread while the caller works on this one: reading
        holds the interpreter (each value becomes a Python float first) while numpy's
        counting lets go of it, so on two cores the two overlap (over 10 million rows, the
        monitoring pipeline's scan takes 20 s instead of 29 s).

        Raises:
            LogUnavailableError: When the log cannot be read, saying what to do.
        """
        chunks = self._read()
        with ThreadPoolExecutor(1, thread_name_prefix="log-window") as reader:
            try:
                ahead = reader.submit(next, chunks, None)
                while (chunk := ahead.result()) is not None:
                    ahead = reader.submit(next, chunks, None)
                    yield chunk
            finally:
                reader.submit(chunks.close).result()  # the connection is the reader's

    def _read(self) -> Iterator[np.ndarray]:
        engine = create_engine(self.url)
        try:
            sql, params = driver_statement(engine, values(self.since, self.until))
            connection = engine.raw_connection()
            try:
                is_postgres = engine.dialect.name == "postgresql"
                driver = connection.driver_connection
                cursor = driver.cursor(name="window") if is_postgres else connection.cursor()
                try:
                    cursor.execute(sql, params)
                except Exception as exc:
                    raise LogUnavailableError(unreadable(self.url, exc)) from None
                while chunk := cursor.fetchmany(self.rows):
                    yield np.asarray(chunk, dtype=float)
                cursor.close()
            finally:
                connection.close()
            for frame in self._archived(engine):
                for start in range(0, len(frame), self.rows):
                    yield frame.iloc[start : start + self.rows].to_numpy(float)
        finally:
            engine.dispose()

    def _archived(self, engine: Engine) -> Iterator[pd.DataFrame]:
        if self.location is None:
            return
        wanted = ["prediction_id", "created_at", *self.columns]
        for day in archive.days_in(self.location, self.since, self.until):
            rows = archive.in_window(
                archive.read_day(self.location, "predictions", day, wanted), self.since, self.until
            )
            yield _without_leftovers(engine, rows)[self.columns]


def fetch_frame(engine: Engine, statement: Select) -> pd.DataFrame:
    """Run ``statement`` through the driver, its rows straight into a frame.

    SQLAlchemy's result rows convert each timestamp on its own (10 s for a million
    feedback rows); here each column is converted at once: timestamps to UTC, booleans to
    ``bool``.

    Raises:
        LogUnavailableError: When the log cannot be read, saying what to do.
    """
    sql, params = driver_statement(engine, statement)
    columns = statement.selected_columns
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(sql, params)
        except Exception as exc:
            raise LogUnavailableError(unreadable(str(engine.url), exc)) from None
        names = list(columns.keys())
        parts = [pd.DataFrame.from_records(rows, columns=names) for rows in _batches(cursor)]
    finally:
        connection.close()
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=names)
    for name, column in columns.items():
        if isinstance(column.type, UtcTimestamp):
            frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601")
        elif isinstance(column.type, Boolean):
            frame[name] = frame[name].astype(bool)
    return frame


def _batches(cursor: Any, rows: int = 100_000) -> Iterator[list[Any]]:
    """A cursor's rows, ``rows`` at a time: a frame is built without all rows as tuples."""
    while batch := cursor.fetchmany(rows):
        yield batch


def _without_leftovers(engine: Engine, rows: pd.DataFrame) -> pd.DataFrame:
    """Archived rows that the database does not hold as well (a crashed archive run's)."""
    if rows.empty:
        return rows
    ids = _p.prediction_id
    with engine.connect() as connection:
        held: set[str] = set()
        values_ = rows["prediction_id"].tolist()
        for start in range(0, len(values_), 500):
            part = values_[start : start + 500]
            held.update(connection.execute(select(ids).where(ids.in_(part))).scalars())
    return rows[~rows["prediction_id"].isin(held)] if held else rows


def add_rows(database: pd.DataFrame, archived: list[pd.DataFrame]) -> pd.DataFrame:
    """The database's rows and the archive's days; a prediction in both keeps the database's."""
    parts = [part for part in archived if len(part)]
    if not parts:
        return database
    merged = pd.concat([database, *parts], ignore_index=True)
    return merged.drop_duplicates("prediction_id", keep="first").reset_index(drop=True)


def read(
    url: str,
    statement: Select,
    location: str | None,
    archived: Archived | None = None,
    combine: Callable[[pd.DataFrame, list[pd.DataFrame]], pd.DataFrame] = add_rows,
) -> pd.DataFrame:
    """Run ``statement`` on the log database and combine its rows with the archive's.

    Args:
        url: The log database's SQLAlchemy URL.
        statement: The query.
        location: The archive's folder or fsspec URL (``None``: the database only).
        archived: The same query's rows from the archive, a frame per day.
        combine: How the database's frame and the archive's add up (:func:`add_rows`,
            :func:`add_volumes`).

    Returns:
        The window's rows (or figures) from both.
    """
    engine = create_engine(url)
    try:
        frame = fetch_frame(engine, statement)
        days = list(archived(location, engine)) if location and archived else []
    finally:
        engine.dispose()
    return combine(frame, days)


def archived_labelled(
    columns: list[str], since: datetime | None = None, until: datetime | None = None
) -> Archived:
    """The archived predictions of a window that got feedback, joined to it day by day.

    Feedback is filed under its prediction's day, so each day joins on its own.

    Args:
        columns: Columns to give, of either table.
        since: Start of the window, or ``None``.
        until: End of the window, or ``None``.

    Returns:
        A function of the archive's location (and of the database, unused: :func:`add_rows`
        keeps the database's copy) that yields a frame per day.
    """

    def rows(location: str, engine: Engine) -> Iterator[pd.DataFrame]:
        for day in archive.days_in(location, since, until):
            fed = archive.read_day(location, "feedback", day)
            if fed.empty:
                continue
            day_rows = archive.in_window(
                archive.read_day(location, "predictions", day), since, until
            )
            yield day_rows.merge(fed, on="prediction_id", how="inner")[columns]

    return rows
