"""Datasets that write to a candidate's MLflow run, named in their catalog entry.

An entry says ``candidate: "{version}.{model}"``; at save time the dataset gets that
candidate's child run from ``tracking.candidate_run_id`` (created on the candidate's first
log) and logs to it by id. Which run an output lands in is read from the catalog.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from california_housing.tracking import candidate_run_id


class CandidateArtifactDataset(AbstractDataset[Any, Any]):
    """A file saved by a Kedro dataset, then logged to the candidate's run.

    The latest copy stays at the wrapped dataset's ``filepath`` (loads read it); MLflow
    keeps each ``kedro run``'s copy, at the root of the candidate's run. ``metadata`` is
    Kedro's (kedro-viz layer). Example::

        "{version}.{model}.metrics":
          type: california_housing.datasets.CandidateArtifactDataset
          candidate: "{version}.{model}"      # -> the child run named v3.xgboost, ...
          dataset: {type: json.JSONDataset, filepath: data/.../{version}/{model}/metrics.json}
    """

    def __init__(
        self,
        candidate: str,
        dataset: dict[str, Any],
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Build the wrapped ``dataset`` (``type`` and ``filepath`` required)."""
        if not isinstance(dataset, dict) or not {"type", "filepath"} <= dataset.keys():
            raise DatasetError(
                f"CandidateArtifactDataset for {candidate!r} needs 'dataset': the "
                f"configuration of a file dataset, with 'type' and 'filepath'; got {dataset!r}."
            )
        self._candidate, self._filepath = candidate, str(dataset["filepath"])
        self.metadata = metadata
        self._dataset = AbstractDataset.from_config(candidate, copy.deepcopy(dataset))

    def load(self) -> Any:
        """Load the latest copy on disk."""
        return self._dataset.load()

    def save(self, data: Any) -> None:
        """Write the file, then log it to the candidate's run (no run: nothing is written)."""
        import mlflow  # noqa: PLC0415 (keeps `kedro --help` fast)

        run_id = candidate_run_id(self._candidate)
        self._dataset.save(data)
        mlflow.MlflowClient().log_artifact(run_id, self._filepath)

    def _exists(self) -> bool:
        return self._dataset.exists()

    def _describe(self) -> dict[str, Any]:
        return {"candidate": self._candidate, "filepath": self._filepath}


class CandidateMetricsDataset(AbstractDataset[dict[str, Any], None]):
    """Metrics logged to the candidate's run in one call (save-only).

    Takes ``{name: value}`` or kedro-mlflow's ``{name: {"value": ..., "step": ...}}``::

        "{version}.{model}.mlflow_metrics":
          type: california_housing.datasets.CandidateMetricsDataset
          candidate: "{version}.{model}"
    """

    def __init__(self, candidate: str, metadata: dict[str, Any] | None = None) -> None:
        """Log to the run of ``candidate`` (``{version}.{model}``); ``metadata`` is Kedro's."""
        self._candidate, self.metadata = candidate, metadata

    def load(self) -> None:
        """Not available: read the run in MLflow, or the candidate's metrics file."""
        raise DatasetError(f"{self._candidate}'s MLflow metrics are save-only.")

    def save(self, data: dict[str, Any]) -> None:
        """Log every metric to the candidate's run in one batch."""
        import mlflow  # noqa: PLC0415
        from mlflow.entities import Metric  # noqa: PLC0415

        now = int(time.time() * 1000)
        values = {k: v if isinstance(v, dict) else {"value": v} for k, v in data.items()}
        metrics = [
            Metric(k, float(v["value"]), now, int(v.get("step", 0))) for k, v in values.items()
        ]
        mlflow.MlflowClient().log_batch(candidate_run_id(self._candidate), metrics=metrics)

    def _describe(self) -> dict[str, Any]:
        return {"candidate": self._candidate}
