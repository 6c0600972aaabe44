import json
import logging
import math
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import optuna
import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from matplotlib.figure import Figure
from optuna.trial import TrialState

from california_housing.datasets import OptunaStudyDataset
from california_housing.pipelines.data_science.nodes import fit_model
from california_housing.pipelines.tuning import create_pipeline, nodes, records
from california_housing.pipelines.tuning.nodes import (
    cv_objective,
    search_settings,
    tune_hyperparameters,
    tuned_model_spec,
)
from california_housing.pipelines.tuning.records import plot_study, trials_table
from california_housing.pipelines.tuning.search_space import SearchSpaceError
from california_housing.schema import RAW_FEATURES
from tests.helpers import project_parameters, version_splits

REPO_ROOT = Path(__file__).resolve().parents[3]
PARAMETERS = project_parameters()
V3 = PARAMETERS["versions"]["v3"]
V3_COLUMNS = [*RAW_FEATURES, *V3["features"]]
MODEL = {
    "class": "xgboost.XGBRegressor",
    "params": {"n_estimators": 10, "max_depth": 3, "tree_method": "hist", "n_jobs": 1},
}
SPACE = {
    "n_estimators": {"type": "int", "low": 5, "high": 15},
    "max_depth": {"type": "int", "low": 2, "high": 4},
    "learning_rate": {"type": "float", "low": 0.1, "high": 0.3, "log": True},
}
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
TIMING_COLUMNS = ["duration_seconds", "datetime_start", "datetime_complete"]


def no_runs(study, trial):
    """A trial callback that records nothing (the MLflow one is tested with its dataset)."""


# The study dataset uses Optuna's heartbeats, still marked experimental.
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

# A worker process: opens the study through the dataset and runs the node, tagging each
# of its trials with its name; with "hang_at" it blocks in that trial (to be killed).
WORKER = """
import json, sys, time
from pathlib import Path

import pandas as pd

from california_housing.datasets import OptunaStudyDataset
from california_housing.pipelines.tuning import nodes

job = json.loads(sys.argv[1])
real_cv_objective = nodes.cv_objective
ran = []


def cv_objective(*args):
    objective = real_cv_objective(*args)

    def tagged(trial):
        trial.set_user_attr("worker", job["worker"])
        if trial.number == job["hang_at"]:
            time.sleep(1.5)  # a first heartbeat: a trial without one never goes stale
            print("hanging", flush=True)
            time.sleep(120)
        time.sleep(job["pause"])
        ran.append(trial.number)
        return objective(trial)

    return tagged


nodes.cv_objective = cv_objective
study = OptunaStudyDataset(job["storage"], job["study_name"], **job["heartbeat"]).load()
barrier = Path(job["barrier"])
(barrier / job["worker"]).touch()
deadline = time.monotonic() + 30
while len(list(barrier.iterdir())) < job["n_workers"] and time.monotonic() < deadline:
    time.sleep(0.05)
train = pd.read_parquet(job["train"])
no_runs = lambda study, trial: None  # noqa: E731
nodes.tune_hyperparameters(study, no_runs, train, job["model"], job["version"], job["tuning"])
print(json.dumps(ran), flush=True)
"""


def tiny_tuning(**changes):
    """Tuning parameters for a few fast trials on a few hundred rows."""
    return {
        "model": "xgboost",
        "n_trials": 3,
        "cv_folds": 2,
        "parallel_folds": 2,
        "seed": 42,
        "fixed_params": {"n_jobs": 1},
        "sampler": {"type": "TPESampler", "n_startup_trials": 2},
        "pruner": {"type": "NopPruner"},
        "search_space": "tiny",
        "search_spaces": {"tiny": SPACE},
        **changes,
    }


@pytest.fixture(scope="module")
def v3_split(generated_raw):
    """The v3 split of generated rows: 300 of its train rows, and all its test rows."""
    splits, _ = version_splits(generated_raw, PARAMETERS)
    train, test = splits["v3"]
    return train.head(300), test


@pytest.fixture
def train(v3_split):
    return v3_split[0].copy()


def _sqlite(tmp_path):
    return f"sqlite:///{tmp_path / 'optuna.db'}"


def _finished(study):
    return study.get_trials(deepcopy=False, states=FINISHED)


def _run_workers(jobs, cwd):
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, json.dumps(job)],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for job in jobs
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr
    return [json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in outputs]


def _job(tmp_path, train_file, worker, **changes):
    return {
        "storage": _sqlite(tmp_path),
        "study_name": "shared",
        "train": str(train_file),
        "model": MODEL,
        "version": V3,
        "tuning": tiny_tuning(),
        "worker": worker,
        "hang_at": -1,
        "pause": 0.0,
        "heartbeat": {},
        "barrier": str(tmp_path / "ready"),
        "n_workers": 1,
        **changes,
    }


# --------------------------------------------------------------------------- objective


def test_the_objective_returns_a_finite_cv_rmse(train):
    settings = search_settings(MODEL, tiny_tuning())
    study = optuna.create_study()

    with ThreadPoolExecutor(2) as pool:
        study.optimize(cv_objective(train, MODEL, V3, settings, pool), n_trials=2)

    values = [trial.value for trial in study.trials]
    assert [trial.state for trial in study.trials] == [TrialState.COMPLETE] * 2
    assert all(math.isfinite(value) and 0 < value < 3 for value in values)
    assert [sorted(trial.intermediate_values) for trial in study.trials] == [[0, 1]] * 2
    assert all(trial.intermediate_values[1] == trial.value for trial in study.trials)
    assert set(study.trials[0].params) == set(SPACE)


def test_the_search_sees_only_train_rows_and_validates_each_once(monkeypatch, v3_split):
    train, test = v3_split
    fits = []
    real_build_estimator = nodes.build_estimator

    def spying_build_estimator(*args, **kwargs):
        estimator = real_build_estimator(*args, **kwargs)
        fit, predict = estimator.fit, estimator.predict
        fold = {}
        fits.append(fold)

        def spy_fit(X, y, **fit_kwargs):
            fold["fit"] = {tuple(row) for row in np.asarray(X)}
            return fit(X, y, **fit_kwargs)

        def spy_predict(X, **predict_kwargs):
            fold["validate"] = {tuple(row) for row in np.asarray(X)}
            return predict(X, **predict_kwargs)

        estimator.fit, estimator.predict = spy_fit, spy_predict
        return estimator

    monkeypatch.setattr(nodes, "build_estimator", spying_build_estimator)
    train_rows = {tuple(row) for row in train[V3_COLUMNS].to_numpy()}
    test_rows = {tuple(row) for row in test[V3_COLUMNS].to_numpy()}
    assert len(train_rows) == len(train)
    assert not train_rows & test_rows

    tune_hyperparameters(
        optuna.create_study(), no_runs, train, MODEL, V3, tiny_tuning(n_trials=2, cv_folds=3)
    )

    fits = [fold for fold in fits if fold]  # search_settings builds one, unfitted
    assert len(fits) == 2 * 3  # trials x folds
    seen = set().union(*(fold["fit"] | fold["validate"] for fold in fits))
    assert seen == train_rows
    assert not seen & test_rows
    for trial_folds in (fits[:3], fits[3:]):
        assert all(not fold["fit"] & fold["validate"] for fold in trial_folds)
        assert sum(len(fold["validate"]) for fold in trial_folds) == len(train)
        assert set().union(*(fold["validate"] for fold in trial_folds)) == train_rows


def test_the_tuning_node_is_wired_to_the_train_split_only(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    monkeypatch.delenv("KEDRO_ENV", raising=False)

    pipeline = create_pipeline()

    tune_nodes = [node for node in pipeline.nodes if node.name.endswith(".tune_hyperparameters")]
    assert tune_nodes
    for node in tune_nodes:
        version = node.namespace.split(".")[0]
        assert f"{version}.train" in node.inputs
        assert not any(name.endswith(".test") for name in node.inputs)


# ------------------------------------------------------------------ tune_hyperparameters


def test_tune_hyperparameters_runs_the_configured_number_of_trials(train):
    study = optuna.create_study(study_name="in-memory")
    before = train.copy()

    best, trials, metrics = tune_hyperparameters(study, no_runs, train, MODEL, V3, tiny_tuning())

    assert set(best) == {"params", "cv_rmse", "trial", "study", "config_fingerprint"}
    assert set(best["params"]) == set(SPACE)
    assert best["study"] == "in-memory"
    assert best["cv_rmse"] == pytest.approx(trials["value"].min())
    assert trials.loc[trials["number"] == best["trial"], "value"].item() == best["cv_rmse"]
    assert len(trials) == 3
    assert trials["state"].tolist() == ["COMPLETE"] * 3
    assert {f"params_{name}" for name in SPACE} <= set(trials.columns)
    assert metrics == {
        "best_cv_rmse": {"value": best["cv_rmse"], "step": 0},
        "n_trials_complete": {"value": 3.0, "step": 0},
        "n_trials_pruned": {"value": 0.0, "step": 0},
    }
    assert study.user_attrs[nodes.FINGERPRINT_ATTR] == best["config_fingerprint"]
    pd.testing.assert_frame_equal(train, before)


def _test_env_tuning(**changes):
    """conf/test's tuning parameters (pruning, parallel folds), with ``changes``."""
    loader = OmegaConfigLoader(str(REPO_ROOT / "conf"), base_env="base", default_run_env="test")
    return {**loader["parameters"]["tuning"], **changes}


def test_the_same_command_gives_the_same_search_and_the_same_tuned_model(train, v3_split):
    tuning = _test_env_tuning(n_trials=8, cv_folds=3)
    assert tuning["parallel_folds"] > 1
    assert tuning["pruner"]["type"] == "MedianPruner"
    outcomes = []
    for _ in range(2):  # two fresh studies, as two `kedro run`s on fresh storages
        best, trials, _ = tune_hyperparameters(
            optuna.create_study(study_name="same"), no_runs, train, MODEL, V3, tuning
        )
        spec = tuned_model_spec(MODEL, tuning, best)
        model, _ = fit_model(train, spec, V3, PARAMETERS["seed"])
        predictions = model.predict(v3_split[1][RAW_FEATURES])
        outcomes.append((best, trials.drop(columns=TIMING_COLUMNS), predictions))

    (best_a, trials_a, predicted_a), (best_b, trials_b, predicted_b) = outcomes
    assert "PRUNED" in set(trials_a["state"])  # the pruner took part
    assert best_a == best_b
    pd.testing.assert_frame_equal(trials_a, trials_b)
    np.testing.assert_array_equal(predicted_a, predicted_b)


def test_no_fold_starts_once_a_trial_is_pruned(monkeypatch, train):
    started = []
    real_build_estimator = nodes.build_estimator

    def counting_build_estimator(*args, **kwargs):
        started.append(args[0])
        return real_build_estimator(*args, **kwargs)

    monkeypatch.setattr(nodes, "build_estimator", counting_build_estimator)
    prune_at_second_fold = {"type": "ThresholdPruner", "upper": 0.0, "n_warmup_steps": 1}
    tuning = tiny_tuning(n_trials=2, cv_folds=5, parallel_folds=2, pruner=prune_at_second_fold)

    study = optuna.create_study(study_name="all-pruned")

    with pytest.raises(RuntimeError, match="'all-pruned' has no complete trial"):
        tune_hyperparameters(study, no_runs, train, MODEL, V3, tuning)

    assert [t.state for t in study.trials] == [TrialState.PRUNED] * 2
    assert [sorted(t.intermediate_values) for t in study.trials] == [[0, 1]] * 2
    # per trial: folds 0 and 1, and fold 2 (started when fold 0 ended); never fold 3 or 4
    assert started.count("tuned") == 2 * 3


def test_each_finished_trial_logs_one_progress_line(caplog, train):
    caplog.set_level(logging.INFO, logger=records.__name__)

    tune_hyperparameters(optuna.create_study(), no_runs, train, MODEL, V3, tiny_tuning())

    lines = [r.getMessage() for r in caplog.records if "finished)" in r.getMessage()]
    assert len(lines) == 3
    for n, line in enumerate(lines, start=1):
        assert f"trial {n - 1} ({n}/3 finished): COMPLETE, cv_rmse 0." in line
        assert "best 0." in line
        assert " s elapsed, ~" in line
        assert line.endswith(" s left")
    assert lines[-1].endswith("~0 s left")


def test_the_trial_callback_gets_every_trial_this_worker_ran(train):
    seen = []

    tune_hyperparameters(
        optuna.create_study(),
        lambda study, trial: seen.append((trial.number, trial.state)),
        train,
        MODEL,
        V3,
        tiny_tuning(),
    )

    assert seen == [(n, TrialState.COMPLETE) for n in range(3)]


def test_the_old_n_jobs_setting_is_refused_with_its_replacement(train):
    with pytest.raises(SearchSpaceError, match=r"tuning\.parallel_folds"):
        search_settings(MODEL, tiny_tuning(n_jobs=2))


def test_a_rerun_resumes_the_study_and_runs_only_the_missing_trials(tmp_path, train):
    dataset = OptunaStudyDataset(storage=_sqlite(tmp_path), study_name="resume")
    tune_hyperparameters(dataset.load(), no_runs, train, MODEL, V3, tiny_tuning(n_trials=2))
    first_two = [(t.number, t.params, t.value) for t in dataset.load().trials]

    reopened = OptunaStudyDataset(storage=_sqlite(tmp_path), study_name="resume").load()
    _, trials, _ = tune_hyperparameters(
        reopened, no_runs, train, MODEL, V3, tiny_tuning(n_trials=4)
    )

    assert len(first_two) == 2
    assert trials["number"].tolist() == [0, 1, 2, 3]
    assert trials["state"].tolist() == ["COMPLETE"] * 4
    assert [(t.number, t.params, t.value) for t in reopened.trials[:2]] == first_two
    # a third run with the same target has nothing left to do
    tune_hyperparameters(dataset.load(), no_runs, train, MODEL, V3, tiny_tuning(n_trials=4))
    assert len(dataset.load().trials) == 4


def test_an_interrupted_search_keeps_its_finished_trials(monkeypatch, tmp_path, train):
    dataset = OptunaStudyDataset(storage=_sqlite(tmp_path), study_name="interrupted")
    real_cv_objective = nodes.cv_objective

    def interrupted_at_third_trial(*args):
        objective = real_cv_objective(*args)

        def wrapped(trial):
            if trial.number == 2:
                raise KeyboardInterrupt
            return objective(trial)

        return wrapped

    monkeypatch.setattr(nodes, "cv_objective", interrupted_at_third_trial)
    with pytest.raises(KeyboardInterrupt):
        tune_hyperparameters(dataset.load(), no_runs, train, MODEL, V3, tiny_tuning(n_trials=4))
    monkeypatch.undo()
    kept = dataset.load().trials
    assert [t.state for t in kept] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.FAIL]

    _, trials, metrics = tune_hyperparameters(
        dataset.load(), no_runs, train, MODEL, V3, tiny_tuning(n_trials=4)
    )

    assert trials["state"].tolist() == ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert metrics["n_trials_complete"]["value"] == 4.0
    resumed = dataset.load().trials
    assert [(t.params, t.value) for t in resumed[:2]] == [(t.params, t.value) for t in kept[:2]]


@pytest.mark.slow  # a worker process, killed, and its trial left to go stale
def test_a_killed_worker_leaves_its_finished_trials_and_a_failed_one(tmp_path, train):
    train_file = tmp_path / "train.parquet"
    train.to_parquet(train_file)
    (tmp_path / "ready").mkdir()
    heartbeat = {"heartbeat_interval": 1, "grace_period": 1}
    job = _job(
        tmp_path,
        train_file,
        "killed",
        hang_at=2,
        heartbeat=heartbeat,
        tuning=tiny_tuning(n_trials=6),
    )
    stderr = tmp_path / "worker.stderr"
    with stderr.open("w") as err:
        worker = subprocess.Popen(
            [sys.executable, "-c", WORKER, json.dumps(job)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    watchdog = threading.Timer(60, worker.kill)  # never wait for the hanging trial
    watchdog.start()
    try:
        hanging = any(line.strip() == "hanging" for line in worker.stdout)
    finally:
        worker.kill()
        worker.wait(timeout=30)
        worker.stdout.close()
        watchdog.cancel()
    assert hanging, stderr.read_text()
    dataset = OptunaStudyDataset(_sqlite(tmp_path), "shared", **heartbeat)
    deadline = time.monotonic() + 15
    while dataset.load().trials[-1].state == TrialState.RUNNING and time.monotonic() < deadline:
        time.sleep(0.25)  # the dead worker's trial goes stale after grace_period

    states = [t.state for t in dataset.load().trials]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.FAIL]
    _, trials, _ = tune_hyperparameters(
        dataset.load(), no_runs, train, MODEL, V3, tiny_tuning(n_trials=4)
    )
    assert trials["state"].tolist() == ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]


def test_a_study_of_another_configuration_is_refused(tmp_path, train):
    dataset = OptunaStudyDataset(storage=_sqlite(tmp_path), study_name="taken")
    tune_hyperparameters(dataset.load(), no_runs, train, MODEL, V3, tiny_tuning(n_trials=1))
    narrower = {**SPACE, "max_depth": {"type": "int", "low": 2, "high": 3}}

    with pytest.raises(SearchSpaceError, match="Optuna study 'taken' holds trials of another"):
        tune_hyperparameters(
            dataset.load(),
            no_runs,
            train,
            MODEL,
            V3,
            tiny_tuning(n_trials=2, search_spaces={"tiny": narrower}),
        )

    assert len(dataset.load().trials) == 1


@pytest.mark.slow  # two worker processes
def test_two_workers_share_one_study(tmp_path, train):
    train_file = tmp_path / "train.parquet"
    train.to_parquet(train_file)
    (tmp_path / "ready").mkdir()
    OptunaStudyDataset(_sqlite(tmp_path), "shared").load()  # what the first `kedro run` does
    jobs = [
        _job(tmp_path, train_file, worker, pause=0.2, n_workers=2, tuning=tiny_tuning(n_trials=6))
        for worker in ("a", "b")
    ]

    ran_a, ran_b = _run_workers(jobs, cwd=tmp_path)

    study = OptunaStudyDataset(_sqlite(tmp_path), "shared").load()
    finished = _finished(study)
    assert 6 <= len(finished) <= 6 + len(jobs) - 1  # MaxTrialsCallback may overshoot by 1
    assert len(study.trials) == len(finished)
    assert ran_a and ran_b
    assert not set(ran_a) & set(ran_b)
    assert sorted(ran_a + ran_b) == [t.number for t in study.trials]
    by_worker = {t.number: t.user_attrs["worker"] for t in study.trials}
    assert {n for n, w in by_worker.items() if w == "a"} == set(ran_a)
    assert {n for n, w in by_worker.items() if w == "b"} == set(ran_b)


# ---------------------------------------------------------------------------- plot_study


def test_plot_study_returns_two_figures_and_leaves_pyplot_empty(train):
    study = optuna.create_study()
    _, trials, _ = tune_hyperparameters(study, no_runs, train, MODEL, V3, tiny_tuning())
    plt.close("all")

    history, importance = plot_study(study, trials, seed=0)

    assert isinstance(history, Figure)
    assert isinstance(importance, Figure)
    assert plt.get_fignums() == []
    assert len(history.axes[0].collections[0].get_offsets()) == 3  # one point per trial
    assert len(importance.axes[0].patches) == len(SPACE)  # one bar per parameter


def test_plot_study_with_one_complete_trial_explains_the_missing_importances(train):
    study = optuna.create_study()
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=1)
    plt.close("all")

    history, importance = plot_study(study, trials_table(study.trials), seed=0)

    assert isinstance(history, Figure)
    assert "too few for importances" in importance.texts[0].get_text()
    assert plt.get_fignums() == []
