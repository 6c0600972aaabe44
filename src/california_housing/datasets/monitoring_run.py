"""A Kedro dataset that records a monitoring result as one MLflow run of its own experiment."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset


class MlflowMonitoringRunDataset(AbstractDataset[dict[str, Any], dict[str, Any]]):
    """Each save creates one finished run in an MLflow experiment (``monitoring``).

    kedro-mlflow logs a ``kedro run`` to the project's experiment; monitoring results
    belong in an experiment of their own, where successive runs line up in the MLflow UI
    (each metric carries the time it was measured). The run is created and written by id
    through ``MlflowClient``: the active run of the session, if any, is left alone and
    linked by the tag ``kedro_run_id``.

    ``save`` takes ``{"metrics": {name: float}, "params": {name: value},
    "tags": {name: str}, "artifacts": {file name: str | bytes}}``; ``load`` returns the
    latest run of the experiment (``run_id``, ``metrics``, ``params``, ``tags``), or ``{}``.
    """

    def __init__(
        self,
        experiment_name: str = "monitoring",
        artifact_location: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Configure the dataset.

        Args:
            experiment_name: The MLflow experiment (created when missing).
            artifact_location: Where the experiment keeps artifacts when it is created
                (default: the tracking server's choice).
            metadata: Kedro metadata; unused here.
        """
        self._experiment_name = experiment_name
        self._artifact_location = artifact_location
        self.metadata = metadata

    def _experiment_id(self, client: Any) -> str:
        experiment = client.get_experiment_by_name(self._experiment_name)
        if experiment is None:
            return client.create_experiment(
                self._experiment_name, artifact_location=self._artifact_location
            )
        if experiment.lifecycle_stage == "deleted":
            client.restore_experiment(experiment.experiment_id)
        return experiment.experiment_id

    def save(self, data: dict[str, Any]) -> None:
        """Create a run and log the metrics, parameters, tags and artifacts into it.

        Args:
            data: See the class docstring.
        """
        import mlflow  # noqa: PLC0415
        from mlflow.entities import Metric, Param, RunTag  # noqa: PLC0415

        client = mlflow.MlflowClient()
        tags = {k: str(v) for k, v in (data.get("tags") or {}).items()}
        active = mlflow.active_run()
        if active is not None:
            tags["kedro_run_id"] = active.info.run_id
        run = client.create_run(
            self._experiment_id(client), tags=tags, run_name=tags.get("mlflow.runName")
        )
        run_id = run.info.run_id
        try:
            now = int(time.time() * 1000)
            metrics = [
                Metric(key, float(value), now, 0)
                for key, value in (data.get("metrics") or {}).items()
                if value is not None
            ]
            params = [Param(k, str(v)[:6000]) for k, v in (data.get("params") or {}).items()]
            for start in range(0, max(len(metrics), len(params), 1), 100):
                client.log_batch(
                    run_id,
                    metrics=metrics[start : start + 100],
                    params=params[start : start + 100],
                    tags=[RunTag("monitoring", "true")] if start == 0 else [],
                )
            with tempfile.TemporaryDirectory() as folder:
                for name, content in (data.get("artifacts") or {}).items():
                    path = Path(folder) / name
                    path.parent.mkdir(parents=True, exist_ok=True)
                    if isinstance(content, bytes):
                        path.write_bytes(content)
                    else:
                        path.write_text(content, encoding="utf-8")
                client.log_artifacts(run_id, folder)
        except Exception:
            client.set_terminated(run_id, "FAILED")
            raise
        client.set_terminated(run_id, "FINISHED")

    def load(self) -> dict[str, Any]:
        """The latest finished run of the experiment.

        Returns:
            ``run_id``, ``metrics``, ``params`` and ``tags``; ``{}`` when there is none.
        """
        import mlflow  # noqa: PLC0415

        client = mlflow.MlflowClient()
        experiment = client.get_experiment_by_name(self._experiment_name)
        if experiment is None:
            return {}
        runs = client.search_runs(
            [experiment.experiment_id],
            filter_string="attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if not runs:
            return {}
        run = runs[0]
        return {
            "run_id": run.info.run_id,
            "metrics": dict(run.data.metrics),
            "params": dict(run.data.params),
            "tags": dict(run.data.tags),
        }

    def _describe(self) -> dict[str, Any]:
        return {"experiment_name": self._experiment_name}
