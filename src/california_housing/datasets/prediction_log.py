"""The service's prediction log as Kedro datasets: queries built from its one table definition.

Each query is a SQLAlchemy ``select()`` over the tables of ``serving/log/tables.py``, so one
catalog entry reads a SQLite log and a PostgreSQL one alike (bound parameters, quoted names
and timestamps are the dialect's business, not the catalog's).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd
from kedro.io import DatasetError
from sqlalchemy import Select, create_engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from california_housing.datasets.load_only import LoadOnlyDataset
from california_housing.schema import PREDICTION, RAW_FEATURES, TARGET
from california_housing.serving.log.tables import as_utc, feedback, predictions

_p, _f = predictions.c, feedback.c


#: Columns of the predictions in a window (what monitoring compares).
_WINDOW_COLUMNS = [
    "prediction_id", "request_id", "created_at", "model_version",
    *RAW_FEATURES, PREDICTION, "out_of_domain", "latency_ms",
]  # fmt: skip
#: Columns of a labelled prediction (what retraining adds to the raw data).
_LABELLED_COLUMNS = ["prediction_id", "model_version", "created_at", *RAW_FEATURES]


def window_predictions(since: datetime, until: datetime) -> Select:
    """The predictions logged in ``[since, until)``."""
    return select(*(_p[name] for name in _WINDOW_COLUMNS)).where(
        _p.created_at >= since, _p.created_at < until
    )


def window_feedback(since: datetime, until: datetime) -> Select:
    """The feedback of the predictions logged in ``[since, until)``."""
    return (
        select(_f.prediction_id, _f[TARGET], _f.received_at)
        .join_from(feedback, predictions)
        .where(_p.created_at >= since, _p.created_at < until)
    )


def labelled_feedback() -> Select:
    """Every prediction that got feedback, with its inputs, oldest feedback first."""
    return (
        select(*(_p[name] for name in _LABELLED_COLUMNS), _f[TARGET], _f.received_at)
        .join_from(feedback, predictions)
        .order_by(_f.received_at, _p.prediction_id)
    )


#: The queries a catalog entry may name, and whether they take a window.
QUERIES: dict[str, tuple[Callable[..., Select], bool]] = {
    "window_predictions": (window_predictions, True),
    "window_feedback": (window_feedback, True),
    "labelled_feedback": (labelled_feedback, False),
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

    Example::

        monitoring_predictions:
          type: california_housing.datasets.PredictionLogDataset
          query: window_predictions   # see QUERIES
          credentials: {con: sqlite:////path/to/prediction_log.db}
          window: {since: "2026-01-01 00:00:00", until: "2026-01-08 00:00:00"}
    """

    written_by = "`kedro serve` writes the prediction log"

    def __init__(
        self,
        *,
        query: str,
        credentials: Mapping[str, Any],
        window: Mapping[str, datetime | str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Configure the dataset.

        Args:
            query: A name of :data:`QUERIES`.
            credentials: ``{"con": <SQLAlchemy URL of the prediction log>}``.
            window: ``since`` (inclusive) and ``until`` (exclusive), for the windowed queries.
            metadata: Kedro-Viz and other metadata, unused here.

        Raises:
            DatasetError: For an unknown query, or a windowed one without its window.
        """
        if query not in QUERIES:
            raise DatasetError(f"Unknown prediction log query {query!r}; one of {list(QUERIES)}.")
        build, windowed = QUERIES[query]
        if windowed:
            if not window or not {"since", "until"} <= set(window):
                raise DatasetError(f"Query {query!r} needs `window: {{since: ..., until: ...}}`.")
            self._statement = build(
                _moment(window["since"], "since"), _moment(window["until"], "until")
            )
        else:
            self._statement = build()
        self._query = query
        self._url = credentials["con"]
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        """Run the query.

        Returns:
            The rows, timestamps as UTC datetimes.

        Raises:
            DatasetError: When the log cannot be opened or lacks the service's tables.
        """
        engine = create_engine(self._url)
        try:
            with engine.connect() as connection:
                result = connection.execute(self._statement)
                return pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        except DBAPIError as exc:
            shown = make_url(self._url).render_as_string(hide_password=True)
            raise DatasetError(
                f"Cannot read the prediction log {shown} ({exc.orig}). Start `kedro serve` "
                "once (it creates the log's tables), or point `prediction_log_url` "
                "(globals.yml, or --params prediction_log_url=...) at the service's log."
            ) from None
        finally:
            engine.dispose()

    def _describe(self) -> dict[str, Any]:
        return {"query": self._query, "log": make_url(self._url).render_as_string(True)}
