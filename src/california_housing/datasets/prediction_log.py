"""The service's prediction log as Kedro datasets: queries built from its one table definition.

Each query is a SQLAlchemy ``select()`` over the tables of ``serving/log/tables.py``, so one
catalog entry reads a SQLite log and a PostgreSQL one alike (bound parameters, quoted names
and timestamps are the dialect's business, not the catalog's).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from kedro.io import DatasetError
from sqlalchemy import Select, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from california_housing.datasets.load_only import LoadOnlyDataset
from california_housing.schema import PREDICTION, RAW_FEATURES, TARGET
from california_housing.serving.log import window
from california_housing.serving.log.store import LogUnavailableError, unreadable
from california_housing.serving.log.tables import as_utc, feedback, predictions

_p, _f = predictions.c, feedback.c


#: Columns of a labelled prediction (what retraining adds to the raw data).
_LABELLED_COLUMNS = ["prediction_id", "model_version", "created_at", *RAW_FEATURES]
_RETRAIN_COLUMNS = [*_LABELLED_COLUMNS, TARGET, "received_at"]
_WINDOW_LABELLED_COLUMNS = [
    "prediction_id", "created_at", "model_version", "Latitude", "Longitude", PREDICTION, TARGET,
]  # fmt: skip


def labelled_feedback() -> Select:
    """Every prediction that got feedback, with its inputs, oldest feedback first."""
    return (
        select(*(_p[name] for name in _LABELLED_COLUMNS), _f[TARGET], _f.received_at)
        .join_from(feedback, predictions)
        .order_by(_f.received_at, _p.prediction_id)
    )


@dataclass(frozen=True)
class Query:
    """A query a catalog entry may name: how it reads the database and the archive.

    Attributes:
        database: The ``select()``, of the window's bounds when ``windowed``.
        windowed: Whether it needs the catalog entry's ``window``.
        archived: The archive's part, of the same bounds (``None``: the database only).
        combine: How the two add up (rows, or per-version volumes).
        streamed: Loaded as chunks of numbers (``window.ValueChunks``), not a frame.
    """

    database: Callable[..., Select]
    windowed: bool
    archived: Callable[..., window.Archived] | None = None
    combine: Callable[[pd.DataFrame, list[pd.DataFrame]], pd.DataFrame] = window.add_rows
    streamed: bool = False


#: The queries a catalog entry may name.
QUERIES: dict[str, Query] = {
    "window_values": Query(window.values, windowed=True, streamed=True),
    "window_traffic": Query(
        window.traffic,
        windowed=True,
        archived=window.archived_traffic,
        combine=window.add_volumes,
    ),
    "window_labelled": Query(
        window.labelled,
        windowed=True,
        archived=lambda since, until: window.archived_labelled(
            _WINDOW_LABELLED_COLUMNS, since, until
        ),
    ),
    "labelled_feedback": Query(
        labelled_feedback,
        windowed=False,
        archived=lambda: window.archived_labelled(_RETRAIN_COLUMNS),
    ),
}


def _moment(value: datetime | str, name: str) -> datetime:
    """A window bound as a UTC datetime; text is ISO 8601 (``2026-01-01 00:00:00``), UTC."""
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        raise DatasetError(
            f"The monitoring window's {name} {value!r} is not a time: give ISO 8601, e.g. "
            f"--params monitoring_{name}=2026-01-01T00:00:00 (UTC when no offset is given)."
        ) from None
    return as_utc(moment)


class PredictionLogDataset(LoadOnlyDataset):
    """Rows of the service's prediction log (``kedro serve`` writes it), by a named query.

    Rows older than the archive's age are read from the archive too
    (``serving/log/archive.py``), so a window spans both. ``window_values`` gives a
    :class:`~california_housing.serving.log.window.ValueChunks` (the window's numbers, read a
    chunk at a time), the others a frame.

    Example::

        monitoring_labelled:
          type: california_housing.datasets.PredictionLogDataset
          query: window_labelled   # see QUERIES
          credentials: {con: sqlite:////path/to/prediction_log.db}
          window: {since: "2026-01-01 00:00:00", until: "2026-01-08 00:00:00"}
          archive: /path/to/data/09_serving/archive   # or any fsspec URL
    """

    written_by = "`kedro serve` writes the prediction log"

    def __init__(
        self,
        *,
        query: str,
        credentials: Mapping[str, Any],
        window: Mapping[str, datetime | str] | None = None,
        archive: str | None = None,
        chunk_rows: int = 200_000,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Configure the dataset.

        Args:
            query: A name of :data:`QUERIES`.
            credentials: ``{"con": <SQLAlchemy URL of the prediction log>}``.
            window: ``since`` (inclusive) and ``until`` (exclusive), for the windowed queries.
            archive: The archive's folder or fsspec URL (``None``: the database only).
            chunk_rows: Rows per chunk of ``window_values``.
            metadata: Kedro-Viz and other metadata, unused here.

        Raises:
            DatasetError: For an unknown query, or a windowed one without its window.
        """
        if query not in QUERIES:
            raise DatasetError(f"Unknown prediction log query {query!r}; one of {list(QUERIES)}.")
        spec, bounds = QUERIES[query], ()
        if spec.windowed:
            if not window or not {"since", "until"} <= set(window):
                raise DatasetError(f"Query {query!r} needs `window: {{since: ..., until: ...}}`.")
            bounds = (_moment(window["since"], "since"), _moment(window["until"], "until"))
        self._statement = spec.database(*bounds)
        self._archived = spec.archived(*bounds) if spec.archived and archive else None
        self._bounds, self._archive, self._chunk_rows = bounds, archive, chunk_rows
        self._query, self._spec = query, spec
        self._url = credentials["con"]
        self.metadata = metadata

    def load(self) -> Any:
        """Run the query on the database and the archive.

        Returns:
            The rows (timestamps as UTC datetimes), or for ``window_values`` the chunks.

        Raises:
            DatasetError: When the log cannot be opened or lacks the service's tables.
        """
        if self._spec.streamed:
            return window.ValueChunks(self._url, *self._bounds, self._archive, self._chunk_rows)
        try:
            return window.read(
                self._url, self._statement, self._archive, self._archived, self._spec.combine
            )
        except DBAPIError as exc:
            raise DatasetError(unreadable(self._url, exc.orig)) from None
        except LogUnavailableError as exc:
            raise DatasetError(str(exc)) from None

    def _describe(self) -> dict[str, Any]:
        return {"query": self._query, "log": make_url(self._url).render_as_string(True)}
