"""The prediction log's database: its engine, its tables created, and the service's reads.

The tables are created when missing (``create_all``). No column has been added or changed
since the log was introduced, so there is nothing to migrate: a database whose tables lack a
column of :mod:`.tables` is refused with the columns named, rather than written half-way. A
future change of a column's type or a new column brings a migration tool (Alembic) with it.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, Select, Table, create_engine, event, false, func, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from california_housing.schema import TARGET
from california_housing.serving.log.tables import (
    FEEDBACK_COLUMNS,
    METADATA,
    PREDICTION_COLUMNS,
    TIME_COLUMNS,
    feedback,
    predictions,
    stored_timestamp,
)

_COLUMNS = {"predictions": PREDICTION_COLUMNS, "feedback": FEEDBACK_COLUMNS}


class LogUnavailableError(RuntimeError):
    """The log database cannot be read right now."""


def driver_statement(engine: Engine, statement: Select) -> tuple[str, Any]:
    """``statement`` as the driver takes it: its SQL and its parameters, timestamps as stored."""
    compiled = statement.compile(dialect=engine.dialect)
    stamp = stored_timestamp(engine.dialect)
    params = {
        name: stamp(value) if isinstance(value, datetime) else value
        for name, value in compiled.params.items()
    }
    if compiled.positional:
        return str(compiled), tuple(params[name] for name in compiled.positiontup or ())
    return str(compiled), params


def unreadable(url: str, error: BaseException) -> str:
    """What to do about a log that cannot be read: the message of every reader."""
    shown = make_url(url).render_as_string(hide_password=True)
    return (
        f"Cannot read the prediction log {shown} ({error}). Start `kedro serve` once (it "
        "creates the log's tables), or point `prediction_log_url` (globals.yml, or --params "
        "prediction_log_url=...) at the service's log."
    )


class LogSchemaError(RuntimeError):
    """The log database has tables of these names without this schema's columns."""


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite log URL (``None`` for other databases).

    Raises:
        ValueError: For an in-memory SQLite database (nothing would outlive the process).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise ValueError(
            f"The prediction log needs a database file or server, got {url!r}; use "
            "sqlite:////absolute/path/prediction_log.db or a PostgreSQL URL."
        )
    return Path(parsed.database).resolve()


def create_log_engine(url: str) -> Engine:
    """An engine for the log database.

    SQLite: the file (and its folder) is created on first use; afterwards every write opens
    the existing file (``mode=rw``), in WAL mode, so a file that disappears or turns
    read-only is an error, not a silently new, empty log. Other databases: a pooled engine
    that checks connections before use.

    Args:
        url: SQLAlchemy URL.

    Returns:
        The engine.
    """
    path = sqlite_path(url)
    if path is None:
        return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    sqlite3.connect(path).close()  # create the file once

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(
            f"{path.as_uri()}?mode=rw", uri=True, timeout=5.0, check_same_thread=False
        )

    engine = create_engine("sqlite://", creator=connect, poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def _pragmas(connection: sqlite3.Connection, _record: object) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def create_tables(engine: Engine) -> None:
    """Create the tables that are missing; check that those present have every column.

    Args:
        engine: The log database.

    Raises:
        LogSchemaError: Naming the table and the columns it lacks.
    """
    METADATA.create_all(engine)
    inspector = inspect(engine)
    for table in METADATA.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        missing = [name for name in table.columns.keys() if name not in present]
        if missing:
            raise LogSchemaError(
                f"The prediction log {engine.url.render_as_string(hide_password=True)} has a "
                f"table {table.name!r} without the columns {missing}: it was not created by "
                "this service. Point serving.log_db_url (or SERVING_LOG_DB_URL) at a new "
                "database, or rename that table."
            )


def _upsert(engine: Engine, table: Table, *, update: Sequence[str]) -> Any:
    """An INSERT that ignores (``update`` empty) or updates rows whose key exists."""
    dialect = engine.dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert  # noqa: PLC0415
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment] # noqa: PLC0415
    else:
        return table.insert()
    statement = insert(table)
    key = [column.name for column in table.primary_key]
    if not update:
        return statement.on_conflict_do_nothing(index_elements=key)
    return statement.on_conflict_do_update(
        index_elements=key, set_={name: statement.excluded[name] for name in update}
    )


class LogStore:
    """The log database, opened: the writer's inserts, the service's reads, a probe.

    A prediction already logged is kept as it is (its id is unique); a prediction's
    feedback replaces the earlier one.

    Args:
        url: SQLAlchemy URL of the log database.
    """

    def __init__(self, url: str) -> None:
        """Create the engine; nothing is connected yet."""
        self.engine = engine = create_log_engine(url)
        self._keeper: Any = None
        statements: dict[str, Any] = {
            "predictions": _upsert(engine, predictions, update=()),
            "feedback": _upsert(engine, feedback, update=(TARGET, "received_at")),
        }
        if engine.dialect.name == "sqlite":  # the DB-API's own executemany: fast
            statements = {
                kind: str(statement.compile(dialect=engine.dialect))
                for kind, statement in statements.items()
            }
        self._statements = statements
        self._stored_time = stored_timestamp(engine.dialect)

    def open(self) -> None:
        """Create the tables (see :func:`create_tables`) and hold SQLite's WAL open.

        SQLite checkpoints and deletes the WAL (an fsync: tens of ms) whenever the last
        connection to the file closes; one held open for the log's life avoids that on every
        write, while each write still opens the file by its path.
        """
        if self.engine.dialect.name == "sqlite" and self._keeper is None:
            with contextlib.suppress(Exception):
                self._keeper = self.engine.raw_connection()
                cursor = self._keeper.cursor()  # a first read attaches it to the WAL
                cursor.execute("SELECT count(*) FROM sqlite_master").fetchall()
                cursor.close()
        create_tables(self.engine)

    def close(self) -> None:
        """Release every connection."""
        if self._keeper is not None:
            with contextlib.suppress(Exception):
                self._keeper.close()
        self.engine.dispose()

    def write(self, chunks: Sequence[tuple[str, list[tuple[Any, ...]]]]) -> None:
        """Insert rows of both tables, in order, in one transaction.

        Args:
            chunks: ``(table name, rows)`` pairs; a row is a tuple in the table's column order.
        """
        with self.engine.begin() as connection:
            for kind, rows in chunks:
                statement = self._statements[kind]
                if isinstance(statement, str):  # SQLite, through the driver
                    connection.exec_driver_sql(statement, self._stored(kind, rows))
                else:
                    columns = _COLUMNS[kind]
                    connection.execute(
                        statement, [dict(zip(columns, row, strict=True)) for row in rows]
                    )

    def _stored(self, kind: str, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Rows with their timestamp as SQLAlchemy stores it (one request's rows share one)."""
        at = _COLUMNS[kind].index(TIME_COLUMNS[kind])
        texts: dict[datetime, Any] = {}
        adapted = []
        for row in rows:
            moment = row[at]
            text = texts.get(moment)
            if text is None:
                text = texts[moment] = self._stored_time(moment)
            adapted.append((*row[:at], text, *row[at + 1 :]))
        return adapted

    def probe(self) -> None:
        """Check the database takes writes (an UPDATE of no row); raises when it does not."""
        with self.engine.begin() as connection:
            connection.execute(
                predictions.update().where(false()).values(latency_ms=predictions.c.latency_ms)
            )

    def known_ids(self, ids: list[str]) -> set[str]:
        """Which of ``ids`` have a logged prediction.

        Raises:
            LogUnavailableError: When the database cannot be read.
        """
        found: set[str] = set()
        column = predictions.c.prediction_id
        with self._reading() as connection:
            for start in range(0, len(ids), 500):
                query = select(column).where(column.in_(ids[start : start + 500]))
                found.update(connection.execute(query).scalars())
        return found

    def page(
        self,
        *,
        limit: int,
        offset: int,
        model_version: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        """Logged predictions with their feedback, newest first.

        Returns:
            The number of matching predictions and the requested page of them.

        Raises:
            LogUnavailableError: When the database cannot be read.
        """
        conditions = []
        if model_version is not None:
            conditions.append(predictions.c.model_version == model_version)
        if since is not None:
            conditions.append(predictions.c.created_at >= since)
        if until is not None:
            conditions.append(predictions.c.created_at < until)
        query = (
            select(predictions, feedback.c[TARGET])
            .select_from(predictions.outerjoin(feedback))
            .where(*conditions)
            .order_by(predictions.c.created_at.desc(), predictions.c.prediction_id)
            .limit(limit)
            .offset(offset)
        )
        count = select(func.count()).select_from(predictions).where(*conditions)
        with self._reading() as connection:
            total = int(connection.execute(count).scalar_one())
            rows = [dict(row._mapping) for row in connection.execute(query)]
        for row in rows:
            row["domain_violations"] = orjson.loads(row["domain_violations"] or "[]")
        return total, rows

    @contextlib.contextmanager
    def _reading(self) -> Any:
        try:
            with self.engine.connect() as connection:
                yield connection
        except Exception as exc:
            raise LogUnavailableError(str(exc)) from None
