import shutil
import time

import mlflow
import optuna
import pandas as pd
import pytest
from kedro.io import DatasetError
from mlflow import MlflowClient
from optuna.trial import TrialState

from california_housing.datasets import OptunaStudyDataset, OptunaTrialsDataset
from california_housing.pipelines.tuning.nodes import trials_table

# The study dataset uses Optuna's heartbeats, still marked experimental.
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

PRUNED_TRIAL, FAILED_TRIAL = 3, 4


@pytest.fixture(scope="module")
def empty_mlflow_db(tmp_path_factory):
    """An MLflow SQLite store with its tables created (the migrations take seconds)."""
    root = tmp_path_factory.mktemp("mlflow_template")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        MlflowClient(tracking_uri=f"sqlite:///{root}/mlflow.db").search_experiments()
    return root / "mlflow.db"


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


@pytest.fixture(scope="module")
def parallel_trials():
    """The trials table of a real study run with two threads (complete, pruned, failed)."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(_objective, n_trials=8, n_jobs=2, catch=(ValueError,))
    return trials_table(study.trials)


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


# ----------------------------------------------------------------- OptunaTrialsDataset


def test_trials_dataset_without_an_active_run_only_writes_the_csv(
    tmp_path, mlflow_experiment, parallel_trials
):
    client, experiment_id = mlflow_experiment
    dataset = OptunaTrialsDataset(filepath=str(tmp_path / "reports" / "trials.csv"))
    assert mlflow.active_run() is None

    dataset.save(parallel_trials)

    written = pd.read_csv(tmp_path / "reports" / "trials.csv")
    assert written["number"].tolist() == parallel_trials["number"].tolist()
    assert written["state"].tolist() == parallel_trials["state"].tolist()
    pd.testing.assert_frame_equal(dataset.load(), written)
    assert client.search_runs([experiment_id]) == []
    assert not (tmp_path / "artifacts").exists()


def test_trials_dataset_logs_one_child_run_per_parallel_trial(
    tmp_path, mlflow_experiment, parallel_trials
):
    client, experiment_id = mlflow_experiment
    trials = parallel_trials
    overlapping = any(
        a.datetime_start < b.datetime_complete and b.datetime_start < a.datetime_complete
        for a in trials.itertuples()
        for b in trials.itertuples()
        if a.number < b.number
    )
    assert overlapping  # the trials really ran in parallel
    assert set(trials["state"]) == {"COMPLETE", "PRUNED", "FAIL"}
    dataset = OptunaTrialsDataset(filepath=str(tmp_path / "trials.csv"))

    with mlflow.start_run(experiment_id=experiment_id, run_name="v3.xgboost_tuned") as parent:
        dataset.save(trials)

    parent_id = parent.info.run_id
    children = client.search_runs(
        [experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_id}'"
    )
    assert len(client.search_runs([experiment_id])) == 1 + len(trials)  # no stray runs
    assert len(children) == len(trials)
    assert [a.path for a in client.list_artifacts(parent_id)] == ["trials.csv"]
    by_number = {int(run.data.tags["optuna_trial_number"]): run for run in children}
    assert sorted(by_number) == sorted(trials["number"])
    for trial in trials.itertuples():
        run = by_number[trial.number]
        assert run.data.tags["mlflow.parentRunId"] == parent_id
        assert run.info.run_name == f"v3.xgboost_tuned.trial_{trial.number}"
        assert run.data.tags["optuna_trial_state"] == trial.state
        assert run.data.params == {"x": str(trial.params_x), "depth": str(trial.params_depth)}
        assert run.info.start_time == int(trial.datetime_start.timestamp() * 1000)
        running_means = client.get_metric_history(run.info.run_id, "cv_rmse_running_mean")
        assert len(running_means) == (1 if trial.state != "COMPLETE" else 2)
        if trial.state == "COMPLETE":
            assert run.data.metrics["cv_rmse"] == pytest.approx(trial.value)
            assert run.info.status == "FINISHED"
        else:  # a pruned trial's value is a partial running mean: not logged as cv_rmse
            assert "cv_rmse" not in run.data.metrics
            assert run.info.status == ("FAILED" if trial.state == "FAIL" else "FINISHED")
    assert by_number[PRUNED_TRIAL].data.tags["optuna_trial_state"] == TrialState.PRUNED.name
    assert by_number[FAILED_TRIAL].data.tags["optuna_trial_state"] == TrialState.FAIL.name
