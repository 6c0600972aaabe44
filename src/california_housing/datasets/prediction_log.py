"""kedro-datasets' SQL query dataset over the service's prediction log, with a clear error."""

from __future__ import annotations

from typing import Any

import pandas as pd
from kedro.io import DatasetError
from kedro_datasets.pandas import SQLQueryDataset


class PredictionLogQueryDataset(SQLQueryDataset):
    """A ``pandas.SQLQueryDataset`` that says what to do when the log cannot be read.

    A log that does not exist yet (the service never ran) or a URL pointing elsewhere
    fails inside SQLAlchemy with a driver message; this names the log (without its
    password) and the two ways out. Everything else is ``SQLQueryDataset``'s.
    """

    def __init__(self, *, credentials: dict[str, Any], **kwargs: Any) -> None:
        """Configure the dataset.

        Args:
            credentials: ``{"con": <SQLAlchemy URL of the prediction log>}``.
            **kwargs: Passed to ``SQLQueryDataset`` (``sql``, ``load_args``...).
        """
        from sqlalchemy.engine import make_url  # noqa: PLC0415

        super().__init__(credentials=credentials, **kwargs)
        self._log = make_url(credentials["con"]).render_as_string(hide_password=True)

    def load(self) -> pd.DataFrame:
        """Run the query.

        Returns:
            The rows.

        Raises:
            DatasetError: When the log cannot be opened or lacks the service's tables.
        """
        from sqlalchemy.exc import DBAPIError  # noqa: PLC0415

        try:
            return super().load()
        except DatasetError as exc:  # Kedro wraps the driver's error: find it
            cause = exc.__cause__
            while cause is not None and not isinstance(cause, DBAPIError):
                cause = cause.__cause__
            if cause is None:
                raise
            raise DatasetError(
                f"Cannot read the prediction log {self._log} ({cause.orig}). "
                "Start `kedro serve` "
                "once (it creates the log's tables), or point `prediction_log_url` "
                "(globals.yml, or --params prediction_log_url=...) at the service's log."
            ) from None
