"""Kedro datasets for Optuna: the study's storage and the trials' MLflow runs."""

from __future__ import annotations

import logging
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

from kedro.io import DatasetError

from california_housing.datasets.load_only import LoadOnlyDataset

logger = logging.getLogger(__name__)


class OptunaStudyDataset(LoadOnlyDataset):
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

    written_by = "trials are stored as they run"

    def __init__(
        self,
        storage: str | None = None,
        study_name: str = "",
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
                ``postgresql+psycopg://user@host/db``; SQLite parent folders are created.
                May be left out when ``credentials`` gives the URL.
            study_name: Name of the study inside the storage.
            direction: ``minimize`` or ``maximize``.
            heartbeat_interval: Seconds between a running trial's heartbeats; a trial
                whose worker died is marked FAIL once ``grace_period`` passes without one.
            grace_period: See ``heartbeat_interval``.
            credentials: Kedro credentials; their ``url`` (e.g. a PostgreSQL URL, which may
                hold a password) replaces ``storage``.
            metadata: Kedro metadata; unused here.
        """
        url = (credentials or {}).get("url", storage)
        if not url:
            raise DatasetError(
                f"OptunaStudyDataset {study_name!r} has no storage: give `storage` (an "
                "SQLAlchemy URL) or `credentials` whose `url` is one (the `team` environment "
                "reads it from OPTUNA_STORAGE: docs/scaling-out.md)."
            )
        if not study_name:
            raise DatasetError("OptunaStudyDataset needs a `study_name`.")
        self._storage = str(url)
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
        storage = self._open_storage(optuna)
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

    def _open_storage(self, optuna: Any, attempts: int = 3) -> Any:
        """Connect to the storage, creating Optuna's tables on first use.

        Workers started together on an empty database all create the tables; PostgreSQL
        lets one win and refuses the others' ``CREATE`` (duplicate key or table). Those
        try again after a moment and find the tables in place.
        """
        from sqlalchemy.exc import IntegrityError, ProgrammingError  # noqa: PLC0415

        def connect() -> Any:
            return optuna.storages.RDBStorage(
                self._storage,
                heartbeat_interval=self._heartbeat_interval,
                grace_period=self._grace_period,
            )

        for attempt in range(1, attempts):
            try:
                return connect()
            except (IntegrityError, ProgrammingError):
                logger.info("Another worker is creating Optuna's tables; retrying")
                time.sleep(0.5 * attempt)
        return connect()

    def _describe(self) -> dict[str, Any]:
        storage = self._storage.split("@")[-1]  # no password in logs
        return {"storage": storage, "study_name": self._study_name}


class OptunaTrialRunsDataset(LoadOnlyDataset):
    """The MLflow runs of a candidate's Optuna trials, written as each trial finishes.

    Loading returns an Optuna callback (:class:`TrialRunLogger`) bound, by explicit run
    id, to the candidate's MLflow run (``california_housing.tracking.candidate_run_id``)
    of this ``kedro run``. The tuning node passes it to ``study.optimize``; the node does
    no I/O itself, and tests give it any other callback. Each finished trial becomes a
    run nested under the candidate's run: correct with several threads (the parent is
    named, not taken from MLflow's active run) and with several worker processes or
    machines (each logs the trials it ran under its own candidate run).

    Example catalog entry::

        "{version}.{model}.trial_runs":
          type: california_housing.datasets.OptunaTrialRunsDataset
          candidate: "{version}.{model}"
    """

    written_by = "trials are logged as they end"

    def __init__(
        self,
        candidate: str,
        metric_name: str = "cv_rmse",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Configure the dataset.

        Args:
            candidate: The candidate's name, ``{version}.{model}``.
            metric_name: MLflow metric name of each trial's value.
            metadata: Kedro metadata; unused here.
        """
        self._candidate = candidate
        self._metric_name = metric_name
        self.metadata = metadata

    def load(self) -> TrialRunLogger:
        """The callback, bound to the candidate's run.

        Returns:
            A :class:`TrialRunLogger`; without an active MLflow run (tracking disabled,
            or outside ``kedro run``) one that logs no runs.
        """
        from california_housing import tracking  # noqa: PLC0415

        parent = tracking.parent_run_id()
        if parent is None:
            logger.info("No MLflow run is active: trials of %s are not logged.", self._candidate)
            return TrialRunLogger(None, self._candidate, self._metric_name)
        run_id = tracking.candidate_run_id(self._candidate, parent)
        return TrialRunLogger(run_id, self._candidate, self._metric_name)

    def _describe(self) -> dict[str, Any]:
        return {"candidate": self._candidate, "metric_name": self._metric_name}


class TrialRunLogger:
    """Optuna callback: one MLflow run per finished trial, under an explicit parent run.

    The run holds the trial's parameters, its value (``metric_name``, complete trials
    only: a pruned trial's value is a partial mean), the running mean after each fold
    (``<metric_name>_running_mean``, step = fold), the trial's state, number and study,
    and the trial's own start and end times.
    """

    def __init__(self, parent_run_id: str | None, candidate: str, metric_name: str) -> None:
        """Bind the callback.

        Args:
            parent_run_id: The run the trial runs are nested under; None logs nothing.
            candidate: Prefix of the trial runs' names (``{candidate}.trial_{number}``).
            metric_name: MLflow metric name of each trial's value.
        """
        self.parent_run_id = parent_run_id
        self.candidate = candidate
        self.metric_name = metric_name
        self._experiment_id: str | None = None

    def __call__(self, study: Any, trial: Any) -> None:
        """Log ``trial`` (an ``optuna.trial.FrozenTrial``) of ``study`` as a finished run."""
        if self.parent_run_id is None:
            return
        from mlflow import MlflowClient  # noqa: PLC0415
        from mlflow.entities import Metric, Param  # noqa: PLC0415

        client = MlflowClient()
        if self._experiment_id is None:
            self._experiment_id = client.get_run(self.parent_run_id).info.experiment_id
        start = _millis(trial.datetime_start)
        run = client.create_run(
            self._experiment_id,
            start_time=start,
            run_name=f"{self.candidate}.trial_{trial.number}",
            tags={
                "mlflow.parentRunId": self.parent_run_id,
                "optuna_study": study.study_name,
                "optuna_trial_number": str(trial.number),
                "optuna_trial_state": trial.state.name,
            },
        )
        params = [Param(key, str(value)) for key, value in trial.params.items()]
        metrics = [
            Metric(f"{self.metric_name}_running_mean", float(value), start or 0, int(step))
            for step, value in sorted(trial.intermediate_values.items())
        ]
        if trial.state.name == "COMPLETE" and trial.value is not None:
            metrics.append(Metric(self.metric_name, float(trial.value), start or 0, 0))
        client.log_batch(run.info.run_id, metrics=metrics, params=params)
        status = "FINISHED" if trial.state.name in ("COMPLETE", "PRUNED") else "FAILED"
        client.set_terminated(
            run.info.run_id, status=status, end_time=_millis(trial.datetime_complete)
        )


def _millis(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)
