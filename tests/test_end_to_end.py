"""End-to-end: the whole project in the `test` environment, on the real data.

The `project` fixture (conftest.py) runs `kedro run --env test` once in a copy of the
project. The assertions look at what a user looks at: files, MLflow runs, the registry.
"""

import subprocess
from pathlib import Path

import joblib
import mlflow
import pandas as pd
import pytest

from california_housing.schema import RAW_FEATURES
from tests.conftest import run_project

# A full `kedro run --env test` (the `project` fixture) and reruns: a minute or more.
pytestmark = pytest.mark.slow

VERSIONS = {"v1": (20_640, 9), "v2": (9_261, 9), "v3": (9_261, 13), "v4": (20_640, 22)}
MODELS = ("linear", "random_forest", "gradient_boosting", "xgboost")
CANDIDATES = (
    {f"{v}.{m}" for v in ("v1", "v2", "v3") for m in MODELS}
    | {"v4.linear", "v4.xgboost"}  # the models v4 lists
    | {"v3.xgboost_tuned", "v4.xgboost_tuned"}
)
CANDIDATE_METRICS = {
    "rmse",
    "mae",
    "r2",
    "mape",
    "train_seconds",
    "holdout_rmse",
    "holdout_mae",
    "population_rmse",
    "population_mae",
}
EXPERIMENT = "california-housing-test"
REGISTERED_MODEL = "california-housing-test"


@pytest.fixture(autouse=True)
def tracking_uri(project):
    """Point MLflow at the project's store for each test, and back afterwards."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{project}/mlflow.db")
    yield
    mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="module")
def client(project):
    return mlflow.MlflowClient(tracking_uri=f"sqlite:///{project}/mlflow.db")


@pytest.fixture(scope="module")
def runs(client):
    experiment = client.get_experiment_by_name(EXPERIMENT)
    return client.search_runs([experiment.experiment_id], max_results=1000)


def _candidate_runs(runs):
    return {r.data.tags["candidate"]: r for r in runs if "candidate" in r.data.tags}


def _latest(folder: Path, name: str) -> Path:
    """The newest version of a Kedro-versioned file."""
    return sorted((folder / name).glob(f"*/{name}"))[-1]


def test_data_versions_have_the_exact_real_shapes(project):
    for version, shape in VERSIONS.items():
        frame = pd.read_parquet(
            _latest(project / "data/test/05_model_input" / version, "model_input.parquet")
        )
        assert frame.shape == shape, version
    v1_test = pd.read_parquet(_latest(project / "data/test/05_model_input/v1", "test.parquet"))
    v3_test = pd.read_parquet(_latest(project / "data/test/05_model_input/v3", "test.parquet"))
    assert set(v3_test.index) <= set(v1_test.index)
    # the real figures of the one split (split.seed 42), checked here once, on the real data
    holdout = pd.read_parquet(
        _latest(project / "data/test/05_model_input", "common_holdout_ids.parquet")
    )
    assert (len(v1_test), len(v3_test), len(holdout)) == (4_128, 1_820, 1_820)


def test_one_parent_run_with_parameters_and_tags(runs, project):
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.params["split.test_size"] == "0.2"
    assert parent.data.params["split.seed"] == "42"
    assert parent.data.tags["kedro_env"] == "test"
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True, check=True
    )
    assert parent.data.tags["git_commit"] == head.stdout.strip()


def test_one_child_run_per_candidate_with_everything_a_user_compares(runs, client):
    parent_id = next(r.info.run_id for r in runs if "mlflow.parentRunId" not in r.data.tags)
    candidates = _candidate_runs(runs)
    assert set(candidates) == CANDIDATES
    for name, run in candidates.items():
        version, model = name.split(".")
        tags = run.data.tags
        assert run.info.status == "FINISHED", name
        assert tags["mlflow.parentRunId"] == parent_id
        assert (tags["data_version"], tags["model_type"], tags["kedro_env"]) == (
            version,
            model,
            "test",
        )
        assert tags["git_commit"]
        assert CANDIDATE_METRICS <= set(run.data.metrics), name
        assert any(key.startswith("models.") for key in run.data.params), name
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"predictions.png", "metrics.json"} <= artifacts, name
        inputs = {d.dataset.name: d for d in run.inputs.dataset_inputs}
        assert f"{version}.train" in inputs, name
        profile = inputs[f"{version}.train"].dataset.profile
        assert inputs[f"{version}.train"].dataset.digest
        expected_rows = {"v1": 16_512, "v2": 7_441, "v3": 7_441, "v4": 16_512}[version]
        assert f'"num_rows": {expected_rows}' in profile, (name, profile)


def test_every_candidate_model_loads_in_one_line_from_its_run(
    runs, raw_frame, project, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # outside the project
    for name, run in _candidate_runs(runs).items():
        run_id = run.info.run_id
        model = joblib.load(mlflow.artifacts.download_artifacts(f"runs:/{run_id}/model.joblib"))
        predictions = model.predict(raw_frame[RAW_FEATURES].head(50))
        assert len(predictions) == 50, name
        assert pd.Series(predictions).between(0, 6).all(), name
    assert not (project / "mlruns").exists()  # nothing went to MLflow's default store


def test_the_champion_is_a_full_model_logged_to_its_candidates_run(runs, raw_frame):
    champion = mlflow.MlflowClient().get_model_version_by_alias(REGISTERED_MODEL, "champion")
    run = next(r for r in _candidate_runs(runs).values() if r.info.run_id == champion.run_id)
    logged = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id = '{run.info.run_id}'",
        output_format="list",
    )
    assert [model.name for model in logged] == ["promoted"]
    info = mlflow.models.get_model_info(f"models:/{REGISTERED_MODEL}@champion")
    assert {"sklearn", "python_function"} <= set(info.flavors)
    assert info.signature is not None
    assert [c.name for c in info.signature.inputs.inputs] == RAW_FEATURES
    assert info.saved_input_example_info is not None
    rows = raw_frame[RAW_FEATURES].head(50).astype({"HouseAge": "int64"})  # as from a CSV
    predictions = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}@champion").predict(rows)
    assert pd.Series(predictions).between(0, 6).all()


@pytest.mark.parametrize("version", ["v3", "v4"])
def test_tuning_trials_are_nested_under_the_tuned_candidate(runs, project, version):
    tuned = _candidate_runs(runs)[f"{version}.xgboost_tuned"]
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == tuned.info.run_id]
    assert len(trials) == 3
    assert all(
        "cv_rmse" in t.data.metrics or t.data.tags["optuna_trial_state"] == "PRUNED" for t in trials
    )
    assert {"max_depth", "n_estimators", "learning_rate"} <= set(trials[0].data.params)
    assert (project / "data/test/06_models/optuna.db").is_file()
    assert (project / f"data/test/08_reporting/tuning/{version}/xgboost_tuned/trials.csv").is_file()


def test_the_whole_state_champion_is_ranked_on_the_whole_states_test_rows(project, runs):
    reporting = project / "data/test/08_reporting"
    leaderboard = pd.read_csv(reporting / "leaderboard.csv")
    assert set(leaderboard["candidate"]) == CANDIDATES
    eligible = leaderboard[leaderboard["eligible"]]
    assert set(eligible["data_version"]) == {"v1", "v4"}  # the versions that keep every row
    assert leaderboard["eligible"].tolist() == sorted(leaderboard["eligible"], reverse=True)
    assert eligible["population_rmse"].is_monotonic_increasing
    assert (leaderboard["n_population"] == 4_128).all()
    winner = leaderboard.iloc[0]
    assert winner["data_version"] == "v4"
    champion = mlflow.MlflowClient().get_model_version_by_alias(REGISTERED_MODEL, "champion")
    assert champion.run_id == winner["run_id"]
    assert champion.tags["population"] == "the whole state"
    assert float(champion.tags["population_rmse"]) == pytest.approx(winner["population_rmse"])


def test_report_leaderboard_and_champion(project, runs, raw_frame):
    reporting = project / "data/test/08_reporting"
    leaderboard = pd.read_csv(reporting / "leaderboard.csv")
    report = (reporting / "report.md").read_text()
    winner = leaderboard.iloc[0]
    assert f"**Promoted**: `{winner['candidate']}` (run `{winner['run_id']}`)" in report
    assert "(`population_rmse`),\nthe score the gate used" in report
    for kind in ("overall", "by_version", "by_model"):
        assert (reporting / f"comparison_{kind}.png").stat().st_size > 10_000
    for figure in ("champion_error_map.png", "champion_importances.png"):
        assert (reporting / figure).stat().st_size > 10_000
        assert f"]({figure})" in report
    model = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}@champion")
    assert len(model.predict(raw_frame[RAW_FEATURES].head(10))) == 10


def test_inference_scores_new_rows_of_the_whole_state_in_domain(project):
    run_project(project, ["inference"])
    predictions = pd.read_csv(
        _latest(project / "data/test/07_model_output/inference", "predictions.csv")
    )
    rows = pd.read_csv(project / "data/01_raw/examples/new_houses.csv")
    assert list(predictions["id"]) == list(rows["id"])
    assert predictions["model_name"].eq(REGISTERED_MODEL).all()
    assert (rows["Longitude"] >= -119.0).any()  # Los Angeles and the east are in the examples
    assert not predictions["out_of_domain"].any()  # the whole-state champion covers them


def test_rerun_reproduces_every_metric_and_keeps_the_champion(project, client, runs):
    before = {n: r.data.metrics for n, r in _candidate_runs(runs).items()}
    champion_before = client.get_model_version_by_alias(REGISTERED_MODEL, "champion").version
    run_project(project, ["data_science", "reporting"])
    experiment = client.get_experiment_by_name(EXPERIMENT)
    latest = {}
    for run in client.search_runs(
        [experiment.experiment_id], order_by=["attributes.start_time ASC"]
    ):
        if "candidate" in run.data.tags:
            latest[run.data.tags["candidate"]] = run.data.metrics
    for name, metrics in before.items():
        if name.endswith("_tuned"):
            continue
        for key, value in metrics.items():
            if key != "train_seconds":
                assert latest[name][key] == value, (name, key)
    # same metrics -> no candidate beats the champion -> the alias stays
    assert (
        client.get_model_version_by_alias(REGISTERED_MODEL, "champion").version == champion_before
    )


def test_synthetic_environment_needs_no_data_and_is_kept_apart(project, tmp_path, monkeypatch):
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "no-cache-here"))
    run_project(project, ["data_processing"], env="synthetic")
    synthetic = project / "data/synthetic/05_model_input"
    v3 = pd.read_parquet(_latest(synthetic / "v3", "model_input.parquet"))
    assert v3.shape[1] == 13
    assert 0 < len(v3) < 20_640
    experiment = mlflow.MlflowClient().get_experiment_by_name("california-housing-SYNTHETIC")
    assert experiment is not None
