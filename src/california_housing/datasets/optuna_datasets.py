"""Kedro datasets for Optuna: the study's storage and the trials' MLflow runs."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError


class OptunaStudyDataset(AbstractDataset[None, Any]):
    """An Optuna study kept in an Optuna storage (SQLite by default, any RDB URL).

    Loading creates the study, or re-opens it when it exists, so an interrupted search
    resumes with its finished trials and several workers started with the same
    ``storage`` and ``study_name`` (on one machine or many) share one study. The study
    object is a handle to that storage: trials added to it are written there at once.

    Example catalog entry::

        "{version}.xgboost_tuned.study":
          type: california_housing.datasets.OptunaStudyDataset
          storage: sqlite:///${project_root:}/data/06_models/optuna.db
          study_name: california-housing-{version}-xgboost
    """

    def __init__(
        self,
        storage: str,
        study_name: str,
        *,
        direction: str = "minimize",
        heartbeat_interval: int | None = 10,
        grace_period: int | None = 60,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Configure the dataset.

        Args:
            storage: SQLAlchemy URL of the storage, e.g. ``sqlite:///path/optuna.db`` or
                ``postgresql://user@host/db``; SQLite parent folders are created.
            study_name: Name of the study inside the storage.
            direction: ``minimize`` or ``maximize``.
            heartbeat_interval: Seconds between a running trial's heartbeats; a trial
                whose worker died is marked FAIL once ``grace_period`` passes without one.
            grace_period: See ``heartbeat_interval``.
            credentials: Kedro credentials; their ``url`` (e.g. a PostgreSQL URL with its
                password, kept in ``conf/local/credentials.yml``) replaces ``storage``.
            metadata: Kedro metadata; unused here.
        """
        self._storage = (credentials or {}).get("url", storage)
        self._study_name = study_name
        self._direction = direction
        self._heartbeat_interval = heartbeat_interval
        self._grace_period = grace_period
        self.metadata = metadata

    def load(self) -> Any:
        """Create or re-open the study.

        Returns:
            The ``optuna.Study``; its trials of dead workers are marked FAIL first.
        """
        import optuna  # noqa: PLC0415 (slow import, only needed by the tuning pipeline)

        if self._storage.startswith("sqlite:///"):
            Path(self._storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        storage = optuna.storages.RDBStorage(
            self._storage,
            heartbeat_interval=self._heartbeat_interval,
            grace_period=self._grace_period,
        )
        study = optuna.create_study(
            storage=storage,
            study_name=self._study_name,
            direction=self._direction,
            load_if_exists=True,
        )
        with warnings.catch_warnings():  # experimental since Optuna 2.9, still the way
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        return study

    def save(self, data: Any) -> None:
        """Trials are written to the storage as they finish; nothing to save.

        Raises:
            DatasetError: Always.
        """
        raise DatasetError("OptunaStudyDataset is load-only: trials are stored as they run.")

    def _describe(self) -> dict[str, Any]:
        storage = self._storage.split("@")[-1]  # no password in logs
        return {"storage": storage, "study_name": self._study_name}


class OptunaTrialsDataset(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """The trials table: a CSV file, an MLflow artifact, and one MLflow run per trial.

    On save (inside a run), every trial becomes a run nested under the run of
    ``candidate`` (``tracking.candidate_run_id``; without one, under the active run), with
    the trial's parameters, its value (``metric_name``), its state and its timing. The
    runs are written from the table after the search, so their parent is right however
    many threads or workers ran the trials.
    """

    def __init__(
        self,
        filepath: str,
        metric_name: str = "cv_rmse",
        candidate: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Configure the dataset.

        Args:
            filepath: Where the CSV is written.
            metric_name: MLflow metric name of each trial's value.
            candidate: The tuned candidate, whose run the trials' runs are nested under.
            metadata: Kedro metadata; unused here.
        """
        self._filepath = Path(filepath)
        self._candidate = candidate
        self._metric_name = metric_name
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        """Read the trials table.

        Returns:
            One row per trial.
        """
        return pd.read_csv(self._filepath)

    def save(self, data: pd.DataFrame) -> None:
        """Write the CSV and log the trials to MLflow (when a run is active).

        Args:
            data: The trials table (``number``, ``state``, ``value``, ``params_*``,
                ``datetime_start``, ``datetime_complete``...).
        """
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        data.to_csv(self._filepath, index=False)
        import mlflow  # noqa: PLC0415

        from california_housing.tracking import candidate_run_id  # noqa: PLC0415

        parent = mlflow.active_run()
        if parent is None:
            return
        client = mlflow.MlflowClient()
        if self._candidate is not None:
            parent = client.get_run(candidate_run_id(self._candidate))
        client.log_artifact(parent.info.run_id, str(self._filepath))
        for trial in data.to_dict(orient="records"):
            self._log_trial(client, parent, trial)

    def _log_trial(self, client: Any, parent: Any, trial: dict[str, Any]) -> None:
        from mlflow.entities import Metric, Param  # noqa: PLC0415

        start = _millis(trial.get("datetime_start"))
        run = client.create_run(
            parent.info.experiment_id,
            start_time=start,
            run_name=f"{parent.info.run_name}.trial_{trial['number']}",
            tags={
                "mlflow.parentRunId": parent.info.run_id,
                "optuna_trial_number": str(trial["number"]),
                "optuna_trial_state": str(trial["state"]),
            },
        )
        params = [
            Param(key.removeprefix("params_"), str(value))
            for key, value in trial.items()
            if key.startswith("params_") and not _missing(value)
        ]
        metrics = []
        # a pruned trial's value is the running mean of the folds it finished: not a CV score
        if trial["state"] == "COMPLETE" and not _missing(trial.get("value")):
            metrics.append(Metric(self._metric_name, float(trial["value"]), start or 0, 0))
        for key, value in json.loads(trial.get("intermediate_values") or "{}").items():
            metrics.append(
                Metric(f"{self._metric_name}_running_mean", float(value), start or 0, int(key))
            )
        client.log_batch(run.info.run_id, metrics=metrics, params=params)
        status = "FINISHED" if trial["state"] in ("COMPLETE", "PRUNED") else "FAILED"
        client.set_terminated(
            run.info.run_id, status=status, end_time=_millis(trial.get("datetime_complete"))
        )

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "metric_name": self._metric_name}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _millis(value: Any) -> int | None:
    if _missing(value) or value == "":
        return None
    return int(pd.Timestamp(value).timestamp() * 1000)
