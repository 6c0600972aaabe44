"""A dataset whose saved table is also recorded as an input dataset of the run."""

from __future__ import annotations

from typing import Any

import pandas as pd
from kedro.io import AbstractDataset

from california_housing.tracking import parent_run_id, table_record


def _filepath(config: dict[str, Any]) -> str | None:
    if "filepath" in config:
        return str(config["filepath"])
    inner = config.get("dataset")
    return _filepath(inner) if isinstance(inner, dict) else None


class MlflowInputDataset(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """Save a table with any dataset, and record it as an input dataset of the ``kedro run``.

    The record is MLflow's (name, digest, schema, row count, file) in the run's "Datasets
    used" with the given context, so a run shows which rows came in, e.g. the feedback rows
    a retrain added to the raw data. Outside a tracked run only the file is saved.
    """

    def __init__(
        self,
        dataset: dict[str, Any],
        name: str,
        context: str = "training",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Configure the dataset.

        Args:
            dataset: Configuration of the dataset that saves and loads the table.
            name: The name MLflow shows for the table.
            context: The input's context tag (``training``, ``feedback``...).
            metadata: Kedro metadata; unused here.
        """
        self._dataset = AbstractDataset.from_config(name, dataset)
        self._name = name
        self._context = context
        self._source = _filepath(dataset)
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        """Load the table with the wrapped dataset."""
        return self._dataset.load()

    def save(self, data: pd.DataFrame) -> None:
        """Save the table, then record it as an input of the active run.

        Args:
            data: The table.
        """
        self._dataset.save(data)
        run_id = parent_run_id()
        if run_id is not None:
            import mlflow  # noqa: PLC0415 (keeps `kedro --help` fast)

            record = table_record(self._name, data, self._source or "", self._context)
            mlflow.MlflowClient().log_inputs(run_id, datasets=[record])

    def _describe(self) -> dict[str, Any]:
        return {"name": self._name, "context": self._context, "source": self._source}
