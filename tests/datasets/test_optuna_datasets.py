import shutil
import time

import mlflow
import optuna
import pytest
from kedro.io import DatasetError
from mlflow import MlflowClient
from optuna.trial import TrialState

from california_housing.datasets import OptunaStudyDataset, OptunaTrialRunsDataset

# The study dataset uses Optuna's heartbeats, still marked experimental.
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

PRUNED_TRIAL, FAILED_TRIAL = 3, 4


@pytest.fixture(scope="module")
def empty_mlflow_db(mlflow_template):
    """An MLflow SQLite store with its tables created (the session's template: copy it)."""
    return mlflow_template


@pytest.fixture
def mlflow_experiment(tmp_path, monkeypatch, empty_mlflow_db):
    """Tracking URI ``sqlite:///{tmp_path}/mlflow.db``, an experiment whose artifacts go
    to tmp_path; the default tracking URI is restored afterwards."""
    shutil.copy(empty_mlflow_db, tmp_path / "mlflow.db")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # restored by monkeypatch
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    experiment_id = mlflow.create_experiment(
        "tuning", artifact_location=(tmp_path / "artifacts").as_uri()
    )
    yield MlflowClient(), experiment_id
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


def _objective(trial):
    x = trial.suggest_float("x", -1.0, 1.0)
    depth = trial.suggest_int("depth", 1, 5)
    time.sleep(0.05)  # long enough for the two threads' trials to overlap
    trial.report(x**2 + 1.0, 0)
    if trial.number == PRUNED_TRIAL:
        raise optuna.TrialPruned
    if trial.number == FAILED_TRIAL:
        raise ValueError("a failing trial")
    trial.report(x**2 + 0.5, 1)
    return x**2 + depth / 10


# ------------------------------------------------------------------ OptunaStudyDataset


def test_study_dataset_creates_the_sqlite_folder_and_reopens_the_study(tmp_path):
    storage = f"sqlite:///{tmp_path / 'new' / 'folder' / 'optuna.db'}"
    study = OptunaStudyDataset(storage=storage, study_name="search").load()
    study.optimize(lambda trial: trial.suggest_float("x", 0.0, 1.0), n_trials=2)

    reopened = OptunaStudyDataset(storage=storage, study_name="search").load()

    assert (tmp_path / "new" / "folder" / "optuna.db").is_file()
    assert reopened.study_name == "search"
    assert [(t.number, t.params, t.value) for t in reopened.trials] == [
        (t.number, t.params, t.value) for t in study.trials
    ]
    assert reopened.direction == optuna.study.StudyDirection.MINIMIZE
    other = OptunaStudyDataset(storage=storage, study_name="another").load()
    assert other.trials == []


def test_study_dataset_is_load_only(tmp_path):
    dataset = OptunaStudyDataset(storage=f"sqlite:///{tmp_path / 'optuna.db'}", study_name="s")

    with pytest.raises(DatasetError, match="load-only"):
        dataset.save(dataset.load())


# ------------------------------------------------------------- OptunaTrialRunsDataset


def _runs_under(client, experiment_id, parent_id):
    return client.search_runs(
        [experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_id}'"
    )


def test_trial_runs_without_an_active_run_log_nothing(mlflow_experiment):
    client, experiment_id = mlflow_experiment
    assert mlflow.active_run() is None
    callback = OptunaTrialRunsDataset(candidate="v3.xgboost_tuned").load()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))

    study.optimize(_objective, n_trials=2, callbacks=[callback])

    assert callback.parent_run_id is None
    assert client.search_runs([experiment_id]) == []


def test_each_trial_is_logged_under_the_candidate_run_as_soon_as_it_ends(mlflow_experiment):
    client, experiment_id = mlflow_experiment
    seen_before = []

    with mlflow.start_run(experiment_id=experiment_id, run_name="tuning") as parent:
        callback = OptunaTrialRunsDataset(candidate="v3.xgboost_tuned").load()
        candidate_id = callback.parent_run_id

        def objective(trial):
            seen_before.append(len(_runs_under(client, experiment_id, candidate_id)))
            return _objective(trial)

        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        study.optimize(objective, n_trials=5, callbacks=[callback], catch=(ValueError,))

    candidate = client.get_run(candidate_id)
    assert candidate.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert candidate.info.run_name == "v3.xgboost_tuned"
    assert seen_before == [0, 1, 2, 3, 4]  # trial n's run exists before trial n + 1 starts
    assert len(_runs_under(client, experiment_id, candidate_id)) == 5


def test_trial_runs_of_parallel_trials_keep_their_parent_and_their_contents(mlflow_experiment):
    client, experiment_id = mlflow_experiment
    with mlflow.start_run(experiment_id=experiment_id, run_name="tuning"):
        callback = OptunaTrialRunsDataset(candidate="v3.xgboost_tuned").load()
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        study.optimize(_objective, n_trials=8, n_jobs=2, callbacks=[callback], catch=(ValueError,))
    trials = study.trials
    overlapping = any(
        a.datetime_start < b.datetime_complete and b.datetime_start < a.datetime_complete
        for a in trials
        for b in trials
        if a.number < b.number
    )
    assert overlapping  # the trials really ran in parallel threads
    assert {t.state for t in trials} == {TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL}

    children = _runs_under(client, experiment_id, callback.parent_run_id)

    by_number = {int(run.data.tags["optuna_trial_number"]): run for run in children}
    assert sorted(by_number) == [t.number for t in trials]  # one run per trial, no stray
    for trial in trials:
        run = by_number[trial.number]
        assert run.info.run_name == f"v3.xgboost_tuned.trial_{trial.number}"
        assert run.data.tags["optuna_trial_state"] == trial.state.name
        assert run.data.tags["optuna_study"] == study.study_name
        assert run.data.params == {k: str(v) for k, v in trial.params.items()}
        assert run.info.start_time == int(trial.datetime_start.timestamp() * 1000)
        assert run.info.end_time == int(trial.datetime_complete.timestamp() * 1000)
        running_means = client.get_metric_history(run.info.run_id, "cv_rmse_running_mean")
        assert [(m.step, m.value) for m in running_means] == sorted(
            trial.intermediate_values.items()
        )
        if trial.state == TrialState.COMPLETE:
            assert run.data.metrics["cv_rmse"] == pytest.approx(trial.value)
            assert run.info.status == "FINISHED"
        else:  # a pruned trial's value is a partial running mean: not logged as cv_rmse
            assert "cv_rmse" not in run.data.metrics
            assert run.info.status == ("FAILED" if trial.state == TrialState.FAIL else "FINISHED")
    assert by_number[PRUNED_TRIAL].data.tags["optuna_trial_state"] == "PRUNED"
    assert by_number[FAILED_TRIAL].data.tags["optuna_trial_state"] == "FAIL"


def test_trial_runs_dataset_is_load_only():
    with pytest.raises(DatasetError, match="load-only"):
        OptunaTrialRunsDataset(candidate="v3.xgboost_tuned").save(lambda study, trial: None)
