"""The prediction log's archive: whole days of old rows, as Parquet files, out of the database.

A service answering 10 requests a second logs ~300 million rows a year: the database keeps
the recent ones, and ``kedro archive`` moves every whole UTC day older than
``serving.log_archive_after_days`` to ``<location>/predictions/day=YYYY-MM-DD/rows.parquet`` and its
feedback to ``<location>/feedback/day=YYYY-MM-DD/rows.parquet`` (``location``: a folder or any
fsspec URL). Monitoring and retraining read a window across the database and the archive
(``serving/log/window.py``); ``GET /predictions`` says where the older rows are.

One transaction per day: the day's rows are deleted from the database (``DELETE ...
RETURNING``, so exactly the rows removed are written), written to the archive (each file
written aside, then renamed into place), and only then is the deletion committed. A crash
before the commit leaves the rows in the database (some maybe in the archive too: readers keep
one copy of each prediction id, the database's), and the next run merges them into the day's
files; nothing is lost or counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, delete, func, select

from california_housing.serving.log.tables import as_utc, feedback, predictions

#: The file of one day of a table: ``<location>/<table>/day=YYYY-MM-DD/rows.parquet``.
FILE = "rows.parquet"


def _filesystem(location: str) -> tuple[Any, str]:
    import fsspec  # noqa: PLC0415

    fs, root = fsspec.core.url_to_fs(location)
    return fs, root.rstrip("/")


def _day_range(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


def _in_day(day: date) -> Any:
    start, end = _day_range(day)
    return (predictions.c.created_at >= start) & (predictions.c.created_at < end)


@dataclass(frozen=True)
class ArchivedDay:
    """What one day's move archived."""

    day: date
    predictions: int
    feedback: int


def days_before(engine: Engine, cutoff: datetime) -> list[date]:
    """The UTC days with predictions that all lie before ``cutoff`` (whole days only)."""
    last = datetime.combine(as_utc(cutoff).date(), time(), tzinfo=UTC)
    with engine.connect() as connection:
        first = connection.execute(
            select(func.min(predictions.c.created_at)).where(predictions.c.created_at < last)
        ).scalar_one()
    if first is None:
        return []
    day, days = as_utc(first).date(), []
    while day < last.date():
        with engine.connect() as connection:
            found = connection.execute(select(func.count()).where(_in_day(day))).scalar_one()
        if found:
            days.append(day)
        day += timedelta(days=1)
    return days


def _merged(fs: Any, path: str, rows: pd.DataFrame, key: str) -> pd.DataFrame:
    """``rows`` and what the day's file already holds, one row per ``key`` (``rows`` win)."""
    if not fs.exists(path):
        return rows
    with fs.open(path, "rb") as handle:
        earlier = pd.read_parquet(handle)
    return pd.concat([rows, earlier], ignore_index=True).drop_duplicates(key, keep="first")


def _write(fs: Any, path: str, rows: pd.DataFrame) -> None:
    """Write ``rows`` to ``path`` aside, then rename it into place."""
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    aside = f"{path}.writing"
    with fs.open(aside, "wb") as handle:
        rows.to_parquet(handle, index=False)
    fs.mv(aside, path)


def archive_day(engine: Engine, location: str, day: date) -> ArchivedDay:
    """Move one UTC day of predictions, and their feedback, to the archive.

    Args:
        engine: The log database.
        location: The archive's folder or fsspec URL.
        day: The day to move.

    Returns:
        How many rows of each table were archived.
    """
    fs, root = _filesystem(location)
    ids = select(predictions.c.prediction_id).where(_in_day(day))
    with engine.begin() as connection:
        removed = {
            "feedback": connection.execute(
                delete(feedback).where(feedback.c.prediction_id.in_(ids)).returning(*feedback.c)
            ),
            "predictions": connection.execute(
                delete(predictions).where(_in_day(day)).returning(*predictions.c)
            ),
        }
        counts = {}
        for name, result in removed.items():
            rows = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
            counts[name] = len(rows)
            if len(rows):
                path = f"{root}/{name}/day={day.isoformat()}/{FILE}"
                _write(fs, path, _merged(fs, path, rows, "prediction_id"))
    return ArchivedDay(day, counts["predictions"], counts["feedback"])


def archive_before(engine: Engine, location: str, cutoff: datetime) -> list[ArchivedDay]:
    """Move every whole day before ``cutoff`` to the archive, a day per transaction."""
    return [archive_day(engine, location, day) for day in days_before(engine, cutoff)]


def archived_days(location: str, table: str = "predictions") -> list[date]:
    """The days the archive holds for ``table``, oldest first."""
    fs, root = _filesystem(location)
    folder = f"{root}/{table}"
    if not fs.exists(folder):
        return []
    names = (p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(folder, detail=False))
    return sorted(date.fromisoformat(n.removeprefix("day=")) for n in names if n.startswith("day="))


def read_day(
    location: str, table: str, day: date, columns: list[str] | None = None
) -> pd.DataFrame:
    """One archived day of ``table`` (empty when the archive has none)."""
    fs, root = _filesystem(location)
    path = f"{root}/{table}/day={day.isoformat()}/{FILE}"
    if not fs.exists(path):
        return pd.DataFrame(columns=columns or [])
    with fs.open(path, "rb") as handle:
        return pd.read_parquet(handle, columns=columns)


def days_in(location: str, since: datetime | None, until: datetime | None) -> list[date]:
    """The archived days of predictions that overlap ``[since, until)`` (``None``: open)."""
    since = as_utc(since) if since is not None else None
    until = as_utc(until) if until is not None else None
    found = []
    for day in archived_days(location):
        start, end = _day_range(day)
        if (since is None or end > since) and (until is None or start < until):
            found.append(day)
    return found


def in_window(rows: pd.DataFrame, since: datetime | None, until: datetime | None) -> pd.DataFrame:
    """The rows whose ``created_at`` lies in ``[since, until)``."""
    created = pd.to_datetime(rows["created_at"], utc=True)
    keep = pd.Series(True, index=rows.index)
    if since is not None:
        keep &= created >= as_utc(since)
    if until is not None:
        keep &= created < as_utc(until)
    return rows[keep]
