"""Datasets that write to a candidate's MLflow run, named in their catalog entry.

A catalog entry says ``candidate: "{version}.{model}"``; at save time the dataset asks
``tracking.candidate_run_id`` for that candidate's child run under the ``kedro run``'s
parent run (creating it on the candidate's first log) and logs to it by id. Which run a
file or metric lands in is therefore read from the catalog, not from hook state.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from california_housing.tracking import candidate_run_id


class CandidateArtifactDataset(AbstractDataset[Any, Any]):
    """A file (or folder) saved by a Kedro dataset, then logged to a candidate's run.

    Writes where the wrapped dataset's ``filepath`` says (the latest copy stays on disk;
    loads read it) and logs it to the run of ``candidate``, so every ``kedro run`` keeps its
    own copy in MLflow; a folder (an MLflow model) is logged under its name. Example
    (``catalog.yml``)::

        "{version}.{model}.metrics":
          type: california_housing.datasets.CandidateArtifactDataset
          candidate: "{version}.{model}"      # -> the child run named v3.xgboost, ...
          dataset:
            type: json.JSONDataset
            filepath: data/07_model_output/{version}/{model}/metrics.json
    """

    def __init__(
        self,
        candidate: str,
        dataset: dict[str, Any],
        artifact_path: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Build the wrapped dataset.

        Args:
            candidate: The candidate whose run gets the file, ``{version}.{model}``.
            dataset: Configuration of a Kedro dataset that writes ``filepath``.
            artifact_path: Folder of the artifact in the run (default: its root).
            metadata: Kedro metadata (kedro-viz layer...); not used by the dataset.

        Raises:
            DatasetError: If ``dataset`` has no ``type`` or no ``filepath``.
        """
        if not isinstance(dataset, dict) or not {"type", "filepath"} <= dataset.keys():
            raise DatasetError(
                f"CandidateArtifactDataset for {candidate!r} needs 'dataset': the "
                f"configuration of a file dataset, with 'type' and 'filepath'; got {dataset!r}."
            )
        self._candidate = candidate
        self._filepath = Path(dataset["filepath"])
        self._artifact_path = artifact_path
        self._dataset = AbstractDataset.from_config(candidate, copy.deepcopy(dataset))
        self.metadata = metadata

    def load(self) -> Any:
        """Load the latest copy on disk."""
        return self._dataset.load()

    def save(self, data: Any) -> None:
        """Write the file, then log it to the candidate's run.

        Raises:
            DatasetError: If no ``kedro run`` (MLflow run) is active; nothing is written.
        """
        run_id = candidate_run_id(self._candidate)  # fails before anything is written
        self._dataset.save(data)
        import mlflow  # noqa: PLC0415

        client = mlflow.MlflowClient()
        if self._filepath.is_dir():  # e.g. an MLflow model folder: logged under its name
            folder = "/".join(filter(None, [self._artifact_path, self._filepath.name]))
            client.log_artifacts(run_id, str(self._filepath), folder)
        else:
            client.log_artifact(run_id, str(self._filepath), self._artifact_path)

    def _exists(self) -> bool:
        return self._dataset.exists()

    def _describe(self) -> dict[str, Any]:
        return {"candidate": self._candidate, "filepath": str(self._filepath)}


class CandidateMetricsDataset(AbstractDataset[dict[str, Any], None]):
    """Metrics logged to a candidate's run (save-only), all in one call.

    Takes ``{name: value}`` or kedro-mlflow's ``{name: {"value": ..., "step": ...}}``.
    Example (``catalog.yml``)::

        "{version}.{model}.mlflow_metrics":
          type: california_housing.datasets.CandidateMetricsDataset
          candidate: "{version}.{model}"
    """

    def __init__(self, candidate: str, metadata: dict[str, Any] | None = None) -> None:
        """Configure the dataset.

        Args:
            candidate: The candidate whose run gets the metrics, ``{version}.{model}``.
            metadata: Kedro metadata; not used by the dataset.
        """
        self._candidate = candidate
        self.metadata = metadata

    def load(self) -> None:
        """Metrics are read from MLflow (or the candidate's ``metrics`` file).

        Raises:
            DatasetError: Always.
        """
        raise DatasetError(
            f"{self._candidate}'s MLflow metrics are save-only: read the candidate's run "
            "in MLflow, or its metrics file."
        )

    def save(self, data: dict[str, Any]) -> None:
        """Log every metric to the candidate's run in one batch."""
        import mlflow  # noqa: PLC0415
        from mlflow.entities import Metric  # noqa: PLC0415

        now = int(time.time() * 1000)
        metrics = []
        for name, value in data.items():
            entry = value if isinstance(value, dict) else {"value": value}
            metrics.append(Metric(name, float(entry["value"]), now, int(entry.get("step", 0))))
        run_id = candidate_run_id(self._candidate)
        mlflow.MlflowClient().log_batch(run_id, metrics=metrics)

    def _describe(self) -> dict[str, Any]:
        return {"candidate": self._candidate}
