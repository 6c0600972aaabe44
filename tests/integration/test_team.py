"""The `team` environment against real servers: one Optuna study in PostgreSQL shared by
several `kedro run` processes, an MLflow tracking server (PostgreSQL backend) holding the
runs and the registry."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pandas as pd
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from california_housing.processes import free_port, http_ok, started, stop_group
from tests.integration.conftest import TeamProject, set_heartbeat

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
]

CANDIDATE = "v3.xgboost_tuned"
STUDY = "california-housing-v3-xgboost_tuned"
# Slower trials than conf/test's (a few hundred trees, 2 folds): long enough for two
# workers to overlap and for a worker to be killed in the middle of one.
SLOW_TRIALS = (
    "tuning.search_spaces.tiny.n_estimators.low=150,tuning.search_spaces.tiny.n_estimators.high=250"
)


PARALLEL_FOLDS = 2  # a trial fits this many folds at a time (set, not read from conf/)


def _study(project: TeamProject) -> optuna.Study:
    return optuna.load_study(study_name=STUDY, storage=project.storage)


def _trial_runs(client: MlflowClient, project: TeamProject) -> dict[str, dict[int, object]]:
    """Trial runs per kedro run: {parent (kedro) run id: {trial number: trial run}}."""
    experiment = client.get_experiment_by_name(project.experiment)
    runs = client.search_runs([experiment.experiment_id], max_results=5000)
    by_id = {run.info.run_id: run for run in runs}
    found: dict[str, dict[int, object]] = {}
    for run in runs:
        if "optuna_trial_number" not in run.data.tags:
            continue
        candidate = by_id[run.data.tags["mlflow.parentRunId"]]
        assert candidate.info.run_name == CANDIDATE
        kedro_run = candidate.data.tags["mlflow.parentRunId"]
        number = int(run.data.tags["optuna_trial_number"])
        assert number not in found.setdefault(kedro_run, {}), "a trial logged twice"
        found[kedro_run][number] = run
    return found


def test_two_workers_share_one_study_and_log_their_trials_under_their_own_runs(
    team_project, mlflow_server
):
    project, n_trials = team_project, 16
    project.run("--pipelines", "data_processing")
    params = f"tuning.n_trials={n_trials},{SLOW_TRIALS}"
    args = ("--pipelines", "tuning", "--namespaces", CANDIDATE, "--params", params)
    logs = [project.root / f"worker-{i}.log" for i in range(2)]
    workers = []
    try:
        for log in logs:
            with log.open("w") as out:
                workers.append(project.kedro(*args, stdout=out, stderr=subprocess.STDOUT))
        for worker in workers:
            worker.wait(timeout=600)
    finally:
        for worker in workers:
            stop_group(worker)
    for worker, log in zip(workers, logs, strict=True):
        assert worker.returncode == 0, log.read_text()[-5000:]

    study = _study(project)
    finished = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    # each worker stops once the study holds n_trials: the other may finish one more
    assert n_trials <= len(finished) <= n_trials + 1
    assert len(study.trials) == len(finished)  # nothing lost, failed or left running
    client = MlflowClient(mlflow_server.url)
    per_worker = _trial_runs(client, project)
    assert len(per_worker) == 2  # both workers ran trials of the one study
    numbers = [set(runs) for runs in per_worker.values()]
    assert not numbers[0] & numbers[1]  # no trial ran twice
    assert numbers[0] | numbers[1] == {t.number for t in study.trials}
    for kedro_run, runs in per_worker.items():
        assert client.get_run(kedro_run).info.status == "FINISHED"
        for number, run in runs.items():
            trial = study.trials[number]
            assert run.data.tags["optuna_trial_state"] == trial.state.name
            assert run.data.params == {k: str(v) for k, v in trial.params.items()}
    for log in logs:  # one progress line per trial the worker ran
        assert f"/{n_trials} finished)" in log.read_text()


def test_a_full_team_run_promotes_a_champion_that_inference_scores_with(
    team_project, mlflow_server
):
    project = team_project
    project.run()

    client = MlflowClient(mlflow_server.url)
    champion = client.get_model_version_by_alias(project.model_name, "champion")
    run = client.get_run(champion.run_id)
    assert run.data.tags.get("candidate") or run.info.run_name
    assert client.get_experiment(run.info.experiment_id).name == project.experiment
    assert any(mlflow_server.artifacts.rglob("*"))  # the artifacts went through the server

    project.run("--pipelines", "inference")

    output = project.root / "data" / "07_model_output" / "inference"
    predictions = [path for path in output.rglob("*.csv") if path.is_file()]
    assert len(predictions) == 1, predictions  # one (versioned) file
    scored = pd.read_csv(predictions[0])
    examples = pd.read_csv(next((project.root / "data" / "01_raw" / "examples").glob("*.csv")))
    assert len(scored) == len(examples)
    assert scored.filter(like="MedHouseVal").notna().all().all()


def test_a_killed_worker_leaves_a_failed_trial_and_the_other_finishes_the_study(
    team_project, mlflow_server
):
    project, n_trials, folds = team_project, 24, 4
    set_heartbeat(project, interval=1, grace=3)
    project.run("--pipelines", "data_processing")
    params = (
        f"tuning.n_trials={n_trials},tuning.cv_folds={folds},"
        f"tuning.parallel_folds={PARALLEL_FOLDS},{SLOW_TRIALS}"
    )
    args = ("--pipelines", "tuning", "--namespaces", CANDIDATE, "--params", params)
    victim_log, survivor_log = project.root / "victim.log", project.root / "survivor.log"
    # The victim works alone until it is killed, so the one running trial is its own.
    with victim_log.open("w") as out:
        victim = project.kedro(*args, stdout=out, stderr=subprocess.STDOUT)
    try:
        killed = _wait_until_mid_trial(project, victim, victim_log, folds)
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)
    finally:
        stop_group(victim)
    with survivor_log.open("w") as out:
        survivor = project.kedro(*args, stdout=out, stderr=subprocess.STDOUT)
    try:
        survivor.wait(timeout=600)
    finally:
        stop_group(survivor)
    assert survivor.returncode == 0, survivor_log.read_text()[-5000:]

    study = _study(project)
    states = [t.state for t in study.trials]
    failed = [t.number for t in study.trials if t.state == TrialState.FAIL]
    assert TrialState.RUNNING not in states
    assert failed == [killed]  # the trial the victim was running, failed by heartbeat
    finished = [s for s in states if s in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == n_trials
    per_worker = _trial_runs(MlflowClient(mlflow_server.url), project)
    assert all(killed not in runs for runs in per_worker.values())  # died before logging


def _wait_until_mid_trial(
    project: TeamProject, worker: subprocess.Popen, log: Path, folds: int
) -> int:
    """Number of the study's one running trial, once it is in the middle of its folds.

    A trial that has reported a fold is past its first heartbeat: a worker killed before
    that (while its sampler is still choosing the trial's parameters) leaves a trial that
    Optuna never marks FAIL. A trial that has reported more than ``folds - PARALLEL_FOLDS``
    folds has only its last fold left, which started a fold's time earlier and may end
    before the kill lands: the trial completes instead of failing.
    """
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert worker.poll() is None, log.read_text()[-5000:]
        try:
            running = _study(project).get_trials(states=(TrialState.RUNNING,))
        except KeyError:  # the study is not created yet
            running = []
        if len(running) == 1 and 0 < len(running[0].intermediate_values) <= folds - PARALLEL_FOLDS:
            return running[0].number
        time.sleep(0.02)
    raise AssertionError("the worker was never in the middle of a trial")


def test_optuna_dashboard_serves_the_team_study(team_project):
    project = team_project
    optuna.create_study(study_name=STUDY, storage=project.storage).optimize(
        lambda trial: trial.suggest_float("x", 0, 1), n_trials=2
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/studies"
    with started(
        [Path(sys.executable).with_name("optuna-dashboard"), project.storage,
         "--host", "127.0.0.1", "--port", str(port)],
        ready=http_ok(url), log_path=project.root / "dashboard.log", timeout=60,
    ):  # fmt: skip
        with urllib.request.urlopen(url, timeout=5) as response:
            studies = json.load(response)["study_summaries"]

    assert [s["study_name"] for s in studies] == [STUDY]
