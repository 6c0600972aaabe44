"""The prediction log's writer: every prediction and every feedback row, off the request path.

Requests never wait for the database. They hand rows to :class:`PredictionLog`, which keeps
them in a bounded in-memory buffer and writes them in batches from one background thread,
in the order they arrived (a prediction is always written before its feedback). Rows leave
the buffer only once their transaction has committed, so:

- the database slow or away: rows wait in the buffer, :attr:`PredictionLog.available` turns
  False (``/ready`` answers 503) and writes are retried until it is back;
- the buffer full: :meth:`PredictionLog.submit` refuses (``/predict`` answers 503 rather
  than answering without logging);
- shutdown: :meth:`PredictionLog.close` writes what is left, retrying for a while; rows it
  still cannot write go to a spill file (:mod:`.spill`) that the next start writes first.

Writes are SQLAlchemy Core inserts (parameterised) into the tables of :mod:`.tables`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from california_housing.serving.log import spill
from california_housing.serving.log.store import (
    LogSchemaError,
    LogStore,
    LogUnavailableError,
    create_tables,
    sqlite_path,
)
from california_housing.serving.log.tables import (
    FEEDBACK_COLUMNS,
    PREDICTION_COLUMNS,
    feedback,
    predictions,
)

logger = logging.getLogger(__name__)

Row = tuple[Any, ...]
_PREDICTIONS, _FEEDBACK = str(predictions.name), str(feedback.name)
_COLUMNS = {_PREDICTIONS: PREDICTION_COLUMNS, _FEEDBACK: FEEDBACK_COLUMNS}


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
        database = sqlite_path(url)
        if spill_path is None and database is not None:
            spill_path = database.with_name(database.name + ".spill.jsonl")
        self.spill_path = spill_path
        self.store: LogStore | None = None
        self._buffer: deque[spill.Chunk] = deque()  # (table, rows) per request
        self._rows = 0  # rows in the buffer
        self._pending: set[str] = set()  # prediction ids waiting in the buffer
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._submitted = 0
        self._written = 0
        self.available = False
        self.last_error: str | None = None
        self.last_attempt = 0.0
        self._spill_files: list[tuple[Path, int]] = []  # deleted once their rows are written

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> None:
        """Connect, create the tables, queue spilled rows, start the writer.

        If the database is unavailable now, the writer keeps trying (``available`` stays
        False) rather than the service failing to start.

        Raises:
            LogSchemaError: When the database holds tables of these names with other columns.
        """
        self.store = store = LogStore(self.url)
        try:
            store.open()
            self.available = True
        except LogSchemaError:
            store.close()
            raise
        except Exception as exc:
            self._failed(exc)
        if self.spill_path is not None:
            for claimed in spill.claim_spills(self.spill_path):
                count = 0
                for kind, rows in spill.read_spill(claimed, _COLUMNS):
                    self._queue(rows, kind)  # beyond the buffer limit: they were acknowledged
                    count += len(rows)
                logger.info("Queued %d spilled rows from %s.", count, claimed)
                self._spill_files.append((claimed, self._submitted))
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
        if self.store is not None:
            self.store.close()
        return spilled

    # ------------------------------------------------------------------ requests

    def submit(self, rows: Sequence[Row], kind: str = _PREDICTIONS) -> bool:
        """Queue rows for writing.

        Args:
            rows: Rows of the ``predictions`` table (or ``feedback``), as tuples in the order
                of ``PREDICTION_COLUMNS`` (or ``FEEDBACK_COLUMNS``) of :mod:`.tables`.
            kind: ``"predictions"`` or ``"feedback"``.

        Returns:
            False (nothing queued) when the buffer cannot take them all.
        """
        with self._lock:
            if self._rows + len(rows) > self.buffer_rows:
                return False
            self._queue(rows, kind)
            return True

    def submit_feedback(self, rows: Sequence[Row]) -> bool:
        """Queue feedback rows (after every prediction already queued)."""
        return self.submit(rows, _FEEDBACK)

    def _queue(self, rows: Sequence[Row], kind: str) -> None:
        with self._lock:
            self._buffer.append((kind, list(rows)))
            self._rows += len(rows)
            if kind == _PREDICTIONS:
                self._pending.update(row[0] for row in rows)
            self._submitted += len(rows)
            if self._rows >= self.batch_rows:
                self._lock.notify()

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
        found = self._opened().known_ids(missing)
        with self._lock:  # written (and left the buffer) since we looked
            return [i for i in missing if i not in found and i not in self._pending]

    def page(self, **query: Any) -> tuple[int, list[dict[str, Any]]]:
        """Logged predictions with their feedback, newest first: see :meth:`LogStore.page`."""
        return self._opened().page(**query)

    def _opened(self) -> LogStore:
        if self.store is None:
            raise LogUnavailableError("the prediction log is not open")
        return self.store

    # ------------------------------------------------------------------ writer thread

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
            self._opened().write(chunks)
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

    def _probe(self) -> None:
        """Check the database takes writes when there is nothing to write."""
        self.last_attempt = time.monotonic()
        try:
            store = self._opened()
            if not self.available:
                create_tables(store.engine)
            store.probe()
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
        target = spill.write_spill(self.spill_path, chunks, _COLUMNS)
        logger.error(
            "The prediction log database is unavailable: %d rows kept in %s; the next start "
            "writes them first.",
            count,
            target,
        )
        return count
