"""The prediction log: every prediction and every feedback row, in a SQL database.

Requests never wait for the database. They hand rows to :class:`PredictionLog`, which keeps
them in a bounded in-memory buffer and writes them in batches from one background thread,
in the order they arrived (a prediction is always written before its feedback). Rows leave
the buffer only once their transaction has committed, so:

- the database slow or away: rows wait in the buffer, :attr:`PredictionLog.available` turns
  False (``/ready`` answers 503) and writes are retried until it is back;
- the buffer full: :meth:`PredictionLog.submit` refuses (``/predict`` answers 503 rather
  than answering without logging);
- shutdown: :meth:`PredictionLog.close` writes what is left, retrying for a while; rows it
  still cannot write go to a JSON-lines spill file that the next start writes first.

Tables (created, or completed with missing columns, on start): ``predictions`` and
``feedback``; see :data:`METADATA`. Writes are SQLAlchemy Core statements (parameterised).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    Table,
    Text,
    create_engine,
    event,
    false,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from california_housing.schema import RAW_FEATURES, TARGET

logger = logging.getLogger(__name__)

METADATA = MetaData()

#: One row per prediction (per row of a /predict request).
predictions = Table(
    "predictions",
    METADATA,
    Column("prediction_id", Text, primary_key=True),
    Column("request_id", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("model_name", Text, nullable=False),
    Column("model_version", Integer, nullable=False),
    *(Column(name, Float, nullable=False) for name in RAW_FEATURES),
    Column(f"predicted_{TARGET}", Float, nullable=False),
    Column("out_of_domain", Boolean, nullable=False),
    Column("domain_violations", Text, nullable=False),
    Column("latency_ms", Float, nullable=False),
)

#: The observed value of a prediction, when it arrives (the latest one wins).
feedback = Table(
    "feedback",
    METADATA,
    Column("prediction_id", Text, ForeignKey("predictions.prediction_id"), primary_key=True),
    Column(TARGET, Float, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

_PREDICTIONS = "predictions"
_FEEDBACK = "feedback"

#: Order of the values in a row handed to :meth:`PredictionLog.submit`, per table.
PREDICTION_COLUMNS: tuple[str, ...] = tuple(str(column.name) for column in predictions.columns)
FEEDBACK_COLUMNS: tuple[str, ...] = tuple(str(column.name) for column in feedback.columns)
_COLUMNS = {_PREDICTIONS: PREDICTION_COLUMNS, _FEEDBACK: FEEDBACK_COLUMNS}
_TIME_COLUMN = {_PREDICTIONS: PREDICTION_COLUMNS.index("created_at"),
                _FEEDBACK: FEEDBACK_COLUMNS.index("received_at")}  # fmt: skip

Row = tuple[Any, ...]


class LogUnavailableError(RuntimeError):
    """The log database cannot be read right now."""


def _sqlite_path(url: str) -> Path | None:
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
    path = _sqlite_path(url)
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


def migrate(engine: Engine) -> None:
    """Create the tables, or add the columns an older log lacks (all are added nullable).

    Args:
        engine: The log database.
    """
    METADATA.create_all(engine)
    inspector = inspect(engine)
    quote = engine.dialect.identifier_preparer.quote
    with engine.begin() as connection:
        for table in METADATA.sorted_tables:
            present = {column["name"] for column in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present:  # names and types from METADATA, not input
                    added = f"{quote(column.name)} {column.type.compile(dialect=engine.dialect)}"
                    connection.execute(text(f"ALTER TABLE {quote(table.name)} ADD COLUMN {added}"))


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


class PredictionLog:
    """Buffered, ordered, batched writer of predictions and feedback (see the module doc).

    Args:
        url: SQLAlchemy URL of the log database.
        buffer_rows: Most rows held in memory.
        batch_rows: Most rows per transaction.
        flush_seconds: Longest a row waits before its write starts.
        spill_path: JSON-lines file for rows left at shutdown (default: next to a SQLite
            log, else none).
        retry_seconds: Pause between attempts while the database fails.
    """

    def __init__(
        self,
        url: str,
        *,
        buffer_rows: int = 200_000,
        batch_rows: int = 2_000,
        flush_seconds: float = 0.2,
        spill_path: Path | None = None,
        retry_seconds: float = 0.5,
    ) -> None:
        """Configure the log; :meth:`open` connects."""
        self.url = url
        self.buffer_rows = buffer_rows
        self.batch_rows = batch_rows
        self.flush_seconds = flush_seconds
        self.retry_seconds = retry_seconds
        sqlite_path = _sqlite_path(url)
        if spill_path is None and sqlite_path is not None:
            spill_path = sqlite_path.with_name(sqlite_path.name + ".spill.jsonl")
        self.spill_path = spill_path
        self._buffer: deque[tuple[str, list[Row]]] = deque()  # (table, rows) per request
        self._rows = 0  # rows in the buffer
        self._pending: set[str] = set()  # prediction ids waiting in the buffer
        self._statements: dict[str, Any] = {}
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._engine: Engine | None = None
        self._keeper: Any = None
        self._submitted = 0
        self._written = 0
        self.available = False
        self.last_error: str | None = None
        self.last_attempt = 0.0
        self._spill_files: list[tuple[Path, int]] = []  # deleted once their rows are written

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> None:
        """Connect, create or migrate the tables, queue spilled rows, start the writer.

        If the database is unavailable now, the writer keeps trying (``available`` stays
        False) rather than the service failing to start.
        """
        self._engine = create_log_engine(self.url)
        if self._engine.dialect.name == "sqlite":
            # SQLite checkpoints and deletes the WAL (an fsync: tens of ms) whenever the last
            # connection to the file closes; one held open for the log's life avoids that on
            # every write, while each write still opens the file by its path.
            with contextlib.suppress(Exception):
                self._keeper = self._engine.raw_connection()
                cursor = self._keeper.cursor()  # a first read attaches it to the WAL
                cursor.execute("SELECT count(*) FROM sqlite_master").fetchall()
                cursor.close()
        self._statements = {
            _PREDICTIONS: _upsert(self._engine, predictions, update=()),
            _FEEDBACK: _upsert(self._engine, feedback, update=(TARGET, "received_at")),
        }
        if self._engine.dialect.name == "sqlite":  # the DB-API's own executemany: fast
            self._statements = {
                kind: str(statement.compile(dialect=self._engine.dialect))
                for kind, statement in self._statements.items()
            }
        try:
            migrate(self._engine)
            self.available = True
        except Exception as exc:
            self._failed(exc)
        self._load_spill()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 30.0) -> int:
        """Write what is buffered, retrying up to ``timeout`` seconds, then stop.

        Rows still unwritten go to the spill file (written first by the next start).

        Args:
            timeout: Seconds to keep retrying.

        Returns:
            The number of rows spilled (0 when everything reached the database).
        """
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join()
        deadline = time.monotonic() + timeout
        while self._buffer and time.monotonic() < deadline:
            if not self._write_batch():
                time.sleep(self.retry_seconds)
        spilled = self._spill()
        if self._keeper is not None:
            with contextlib.suppress(Exception):
                self._keeper.close()
        if self._engine is not None:
            self._engine.dispose()
        return spilled

    # ------------------------------------------------------------------ requests

    def submit(self, rows: Sequence[Row], kind: str = _PREDICTIONS) -> bool:
        """Queue rows for writing.

        Args:
            rows: Rows of the ``predictions`` table (or ``feedback``), as tuples in the order
                of :data:`PREDICTION_COLUMNS` (or :data:`FEEDBACK_COLUMNS`).
            kind: ``"predictions"`` or ``"feedback"``.

        Returns:
            False (nothing queued) when the buffer cannot take them all.
        """
        with self._lock:
            if self._rows + len(rows) > self.buffer_rows:
                return False
            self._queue(rows, kind)
            return True

    def _queue(self, rows: Sequence[Row], kind: str) -> None:
        with self._lock:
            self._buffer.append((kind, list(rows)))
            self._rows += len(rows)
            if kind == _PREDICTIONS:
                self._pending.update(row[0] for row in rows)
            self._submitted += len(rows)
            if self._rows >= self.batch_rows:
                self._lock.notify()

    def submit_feedback(self, rows: Sequence[Row]) -> bool:
        """Queue feedback rows (after every prediction already queued)."""
        return self.submit(rows, _FEEDBACK)

    @property
    def buffered(self) -> int:
        """Rows waiting in the buffer."""
        return self._rows

    @property
    def full(self) -> bool:
        """Whether the buffer is full."""
        return self._rows >= self.buffer_rows

    def wait_written(self, timeout: float) -> bool:
        """Wait until every row submitted before this call has been written.

        Args:
            timeout: Most seconds to wait.

        Returns:
            Whether it was written in time.
        """
        target = self._submitted
        deadline = time.monotonic() + timeout
        with self._lock:
            self._lock.notify()
            while self._written < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(min(remaining, 0.05))
        return True

    def unknown_ids(self, ids: Iterable[str]) -> list[str]:
        """The prediction ids neither buffered nor in the database.

        Raises:
            LogUnavailableError: When the database cannot be read.
        """
        with self._lock:
            missing = [i for i in dict.fromkeys(ids) if i not in self._pending]
        if not missing:
            return []
        found: set[str] = set()
        try:
            with self._connect() as connection:
                for start in range(0, len(missing), 500):
                    chunk = missing[start : start + 500]
                    query = select(predictions.c.prediction_id).where(
                        predictions.c.prediction_id.in_(chunk)
                    )
                    found.update(connection.execute(query).scalars())
        except LogUnavailableError:
            raise
        except Exception as exc:
            raise LogUnavailableError(str(exc)) from None
        with self._lock:  # written (and left the buffer) since we looked
            return [i for i in missing if i not in found and i not in self._pending]

    def page(
        self,
        *,
        limit: int,
        offset: int,
        model_version: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        """Recent predictions with their feedback, newest first.

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
        joined = predictions.outerjoin(feedback)
        query = (
            select(predictions, feedback.c[TARGET])
            .select_from(joined)
            .where(*conditions)
            .order_by(predictions.c.created_at.desc(), predictions.c.prediction_id)
            .limit(limit)
            .offset(offset)
        )
        count = select(func.count()).select_from(predictions).where(*conditions)
        try:
            with self._connect() as connection:
                total = int(connection.execute(count).scalar_one())
                rows = [
                    {str(k): v for k, v in row._asdict().items()}
                    for row in connection.execute(query)
                ]
        except LogUnavailableError:
            raise
        except Exception as exc:
            raise LogUnavailableError(str(exc)) from None
        for row in rows:
            row["domain_violations"] = orjson.loads(row["domain_violations"] or "[]")
            if row["created_at"].tzinfo is None:
                row["created_at"] = row["created_at"].replace(tzinfo=UTC)
        return total, rows

    # ------------------------------------------------------------------ writer

    def _connect(self) -> Any:
        if self._engine is None:
            raise LogUnavailableError("the prediction log is not open")
        return self._engine.connect()

    def _run(self) -> None:
        probe_every = 1.0
        while not self._stop.is_set():
            with self._lock:
                if self._rows < self.batch_rows:
                    self._lock.wait(self.flush_seconds)
            if self._stop.is_set():
                break
            if self._buffer:
                if not self._write_batch():
                    self._stop.wait(self.retry_seconds)
            elif time.monotonic() - self.last_attempt > probe_every:
                self._probe()

    def _write_batch(self) -> bool:
        with self._lock:
            chunks, count = [], 0
            for chunk in self._buffer:
                chunks.append(chunk)
                count += len(chunk[1])
                if count >= self.batch_rows:
                    break
        if not chunks:
            return True
        self.last_attempt = time.monotonic()
        try:
            assert self._engine is not None  # noqa: S101 (open() ran)
            with self._engine.begin() as connection:
                for kind, rows in chunks:
                    self._insert(connection, kind, rows)
        except Exception as exc:
            self._failed(exc)
            return False
        with self._lock:
            for kind, rows in chunks:
                self._buffer.popleft()
                if kind == _PREDICTIONS:
                    self._pending.difference_update(row[0] for row in rows)
            self._rows -= count
            self._written += count
            recovered = not self.available
            self.available = True
            self.last_error = None
            self._lock.notify_all()
        while self._spill_files and self._spill_files[0][1] <= self._written:
            self._spill_files.pop(0)[0].unlink(missing_ok=True)
        if recovered:
            logger.info("Prediction log is writable again; %d rows waiting.", self._rows)
        return True

    def _insert(self, connection: Any, kind: str, rows: list[Row]) -> None:
        statement = self._statements[kind]
        if isinstance(statement, str):  # SQLite: timestamps as SQLAlchemy stores them
            at = _TIME_COLUMN[kind]
            texts: dict[datetime, str] = {}
            adapted = []
            for row in rows:
                moment = row[at]
                text = texts.get(moment)
                if text is None:
                    text = texts[moment] = _sqlite_time(moment)
                adapted.append((*row[:at], text, *row[at + 1 :]))
            connection.exec_driver_sql(statement, adapted)
        else:
            columns = _COLUMNS[kind]
            connection.execute(statement, [dict(zip(columns, row, strict=True)) for row in rows])

    def _probe(self) -> None:
        """Check the database takes writes (an UPDATE of no row), when there is nothing to write."""
        self.last_attempt = time.monotonic()
        try:
            assert self._engine is not None  # noqa: S101
            with self._engine.begin() as connection:
                if not self.available:
                    migrate(self._engine)
                connection.execute(
                    predictions.update().where(false()).values(latency_ms=predictions.c.latency_ms)
                )
        except Exception as exc:
            self._failed(exc)
            return
        self.available = True
        self.last_error = None

    def _failed(self, exc: BaseException) -> None:
        if self.available or self.last_error is None:
            logger.warning(
                "Prediction log unavailable (%s: %s); %d rows kept in memory and retried.",
                type(exc).__name__,
                str(exc).splitlines()[0] if str(exc) else "",
                self._rows,
            )
        self.available = False
        self.last_error = type(exc).__name__

    # ------------------------------------------------------------------ spill file

    def _spill(self) -> int:
        with self._lock:
            chunks = list(self._buffer)
            count = self._rows
            self._buffer.clear()
            self._pending.clear()
            self._rows = 0
        if not chunks:
            return 0
        if self.spill_path is None:
            logger.error("%d logged rows could not be written (no spill file).", count)
            return count
        self.spill_path.parent.mkdir(parents=True, exist_ok=True)
        target = self.spill_path.with_name(f"{self.spill_path.name}.{time.time_ns()}")
        with target.open("xb") as handle:
            for kind, rows in chunks:
                columns = _COLUMNS[kind]
                for row in rows:
                    item = {"kind": kind, "row": dict(zip(columns, row, strict=True))}
                    handle.write(orjson.dumps(item) + b"\n")
        logger.error(
            "The prediction log database is unavailable: %d rows kept in %s; the next start "
            "writes them first.",
            count,
            target,
        )
        return count

    def _load_spill(self) -> None:
        """Queue rows spilled by earlier runs (beyond the buffer limit: they were acknowledged).

        Each file is claimed by renaming it first, so two workers starting together never
        both take it; it is deleted once its rows are written.
        """
        if self.spill_path is None or not self.spill_path.parent.is_dir():
            return
        found = [self.spill_path, *self.spill_path.parent.glob(f"{self.spill_path.name}.*")]
        for spilled in sorted(path for path in found if path.is_file()):
            claimed = spilled.with_name(f"{spilled.name}.{os.getpid()}")
            try:
                spilled.rename(claimed)
            except FileNotFoundError:  # another worker claimed it
                continue
            count = 0
            with claimed.open("rb") as handle:
                for line in handle:
                    if not line.strip():
                        continue
                    item = orjson.loads(line)
                    kind, values = item["kind"], item["row"]
                    for key in ("created_at", "received_at"):
                        if key in values:
                            values[key] = datetime.fromisoformat(values[key])
                    self._queue([tuple(values.get(c) for c in _COLUMNS[kind])], kind)
                    count += 1
            logger.info("Queued %d spilled rows from %s.", count, claimed)
            self._spill_files.append((claimed, self._submitted))  # deleted once written


def _sqlite_time(moment: datetime) -> str:
    """A UTC timestamp in SQLAlchemy's SQLite storage format (so it sorts and compares)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")
