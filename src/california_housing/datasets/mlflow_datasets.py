"""Kedro datasets that read MLflow: candidate runs, and the registry's champion."""

from __future__ import annotations

from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

#: Columns of a candidate-runs table besides the metrics (``metrics.<name>`` -> ``<name>``).
RUN_COLUMNS = {
    "run_id": "run_id",
    "tags.mlflow.parentRunId": "parent_run_id",
    "tags.candidate": "candidate",
    "tags.data_version": "data_version",
    "tags.model_type": "model_type",
    "tags.git_commit": "git_commit",
    "tags.kedro_env": "kedro_env",
    "start_time": "start_time",
}


class MlflowCandidateRunsDataset(AbstractDataset[None, pd.DataFrame]):
    """Every finished candidate run of an MLflow experiment, as a table (load-only).

    A candidate run is a child run tagged ``candidate`` (see ``hooks.py``). The table has
    one row per run: ids, version and model tags, start time and every metric.
    """

    def __init__(self, experiment_name: str, metadata: dict[str, Any] | None = None) -> None:
        """Configure the dataset.

        Args:
            experiment_name: The MLflow experiment to read (on the tracking URI that
                kedro-mlflow set up).
            metadata: Kedro metadata; unused here.
        """
        self._experiment_name = experiment_name
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        """Read the candidate runs.

        Returns:
            One row per finished candidate run, newest first (empty if none).
        """
        import mlflow  # noqa: PLC0415

        runs = mlflow.search_runs(
            experiment_names=[self._experiment_name],
            filter_string="attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            output_format="pandas",
        )
        if runs.empty or "tags.candidate" not in runs:
            return pd.DataFrame(columns=list(RUN_COLUMNS.values()))
        runs = runs[runs["tags.candidate"].notna()]
        metrics = {c: c.removeprefix("metrics.") for c in runs.columns if c.startswith("metrics.")}
        # a tag no run has (git_commit outside a git work tree) is no column: reindex
        table = runs.reindex(columns=[*RUN_COLUMNS, *metrics]).rename(columns=RUN_COLUMNS | metrics)
        return table.reset_index(drop=True)

    def save(self, data: None) -> None:
        """Runs are written by the pipelines that make them.

        Raises:
            DatasetError: Always.
        """
        raise DatasetError("MlflowCandidateRunsDataset is load-only.")

    def _describe(self) -> dict[str, Any]:
        return {"experiment_name": self._experiment_name}


class MlflowChampionDataset(AbstractDataset[dict[str, Any], dict[str, Any]]):
    """The registered model's ``champion`` alias in the MLflow Model Registry.

    ``load`` describes the current champion (empty dict when there is none), with the
    model itself under ``model`` when ``load_model`` is set. ``save``
    takes a promotion decision (see ``reporting.nodes.decide_promotion``): when it says
    ``promote``, the candidate run's logged model is registered as a new version and the
    alias moves to it; otherwise nothing changes.
    """

    def __init__(
        self,
        registered_model_name: str,
        alias: str = "champion",
        *,
        load_model: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Configure the dataset.

        Args:
            registered_model_name: Name of the model in the registry.
            alias: The alias that marks the champion.
            load_model: Whether ``load`` also loads the champion's model (the exact
                version the alias pointed at, as an sklearn estimator).
            metadata: Kedro metadata; unused here.
        """
        self._name = registered_model_name
        self._alias = alias
        self._load_model = load_model
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        """Describe the current champion.

        Returns:
            ``name``, ``version``, ``run_id``, ``candidate``, ``data_version``,
            ``holdout_rmse`` (as recorded at promotion), ``model_uri`` and, with
            ``load_model``, ``model``; or ``{}``.
        """
        import mlflow  # noqa: PLC0415
        from mlflow.exceptions import MlflowException  # noqa: PLC0415

        client = mlflow.MlflowClient()
        try:
            version = client.get_model_version_by_alias(self._name, self._alias)
        except MlflowException:  # no such model, or no such alias yet
            return {}
        holdout = version.tags.get("holdout_rmse")
        champion = {
            "name": self._name,
            "version": int(version.version),
            "run_id": version.run_id,
            "candidate": version.tags.get("candidate", ""),
            "data_version": version.tags.get("data_version", ""),
            "holdout_rmse": float(holdout) if holdout is not None else None,
            "model_uri": f"models:/{self._name}@{self._alias}",
        }
        if self._load_model:
            uri = f"models:/{self._name}/{version.version}"
            champion["model"] = mlflow.sklearn.load_model(uri)
        return champion

    def save(self, data: dict[str, Any]) -> None:
        """Apply a promotion decision.

        Args:
            data: A decision with ``promote``, ``run_id``, ``candidate``,
                ``data_version`` and ``holdout_rmse``.
        """
        if not data.get("promote"):
            return
        import mlflow  # noqa: PLC0415

        version = mlflow.register_model(
            f"runs:/{data['run_id']}/model",
            self._name,
            tags={
                "candidate": str(data["candidate"]),
                "data_version": str(data["data_version"]),
                "holdout_rmse": repr(float(data["holdout_rmse"])),
            },
        )
        client = mlflow.MlflowClient()
        client.set_registered_model_alias(self._name, self._alias, version.version)

    def _describe(self) -> dict[str, Any]:
        return {"registered_model_name": self._name, "alias": self._alias}
