"""The MLflow datasets against a real SQLite tracking store and model registry."""

import itertools
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import joblib
import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
import requests
from kedro.config import OmegaConfigLoader
from kedro.io import DatasetError

from california_housing.datasets import MlflowCandidateRunsDataset, MlflowChampionDataset
from california_housing.datasets.mlflow_datasets import RUN_COLUMNS
from california_housing.modelling import build_estimator, make_model
from california_housing.pipelines.reporting.nodes import build_leaderboard, decide_promotion
from california_housing.processes import free_port, http_ok, started
from california_housing.schema import RAW_FEATURES, TARGET
from california_housing.settings import CONFIG_LOADER_ARGS

REPO_ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = "california-housing-test"
REGISTERED_MODEL = "california-housing-test"
_START = 1_767_600_000_000  # ms since the epoch (2026-01-05): runs start one second apart


# ------------------------------------------------------------------------------ config


@pytest.fixture(scope="module")
def config():
    """The project's configuration in the test environment (resolvers included)."""
    return OmegaConfigLoader(conf_source=str(REPO_ROOT / "conf"), env="test", **CONFIG_LOADER_ARGS)


@pytest.fixture(scope="module")
def champion_args(config):
    """How the promoted model is logged (``champion``'s ``save_args``)."""
    args = dict(config["catalog"]["champion"]["save_args"])
    assert "california_housing.features.FeatureEngineer" in args["skops_trusted_types"]
    return args


@pytest.fixture(scope="module")
def models(config, generated_raw):
    """Two real fitted candidates on 300 generated rows: v1 linear, and v4 XGBoost with its
    features and its neighbourhood step (an index of its training rows inside the model)."""
    parameters = config["parameters"]
    rows = generated_raw.head(300)
    fitted = {}
    for candidate in ("v1.linear", "v4.xgboost"):
        version, _, model = candidate.partition(".")
        spec = parameters["versions"][version]
        estimator = build_estimator(model, parameters["models"][model], seed=42)
        pipeline = make_model(estimator, spec["features"], spec.get("neighbourhood"), seed=42)
        fitted[candidate] = pipeline.fit(rows[RAW_FEATURES], rows[TARGET])
    return fitted


@pytest.fixture
def unseen_rows(generated_raw):
    """Real rows the models were not trained on, raw columns only."""
    return generated_raw.iloc[300:340][RAW_FEATURES].copy()


# ---------------------------------------------------------------------- MLflow store


@pytest.fixture(scope="module")
def empty_store(mlflow_template):
    """An empty, migrated MLflow SQLite database (the session's template: copy it)."""
    return mlflow_template


@pytest.fixture
def experiment_id(tmp_path, empty_store, monkeypatch):
    """A fresh tracking store + registry in ``tmp_path`` with the test experiment in it."""
    while mlflow.active_run() is not None:
        mlflow.end_run()
    db = tmp_path / "mlflow.db"
    shutil.copyfile(empty_store, db)
    uri = f"sqlite:///{db}"
    previous = mlflow.get_tracking_uri()
    # the registry follows the tracking URI (an empty registry URI), whatever an earlier test
    # in this process set (the serving app sets it to its store)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    mlflow.set_registry_uri("")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # restored (or unset) afterwards
    mlflow.set_tracking_uri(uri)
    try:
        yield mlflow.create_experiment(
            EXPERIMENT, artifact_location=(tmp_path / "mlartifacts").as_uri()
        )
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(previous)


class Runs:
    """Creates runs the way ``kedro run`` + ``CandidateRunsHook`` lay them out."""

    def __init__(self, experiment_id: str) -> None:
        self.experiment_id = experiment_id
        self.client = mlflow.MlflowClient()
        self._clock = itertools.count()

    def _start_time(self) -> int:
        return _START + 1_000 * next(self._clock)

    def parent(self, tags=None) -> str:
        """A finished parent run (one ``kedro run``), without a ``candidate`` tag."""
        tags = {"kedro_env": "test", "kedro_pipeline": "__default__", **(tags or {})}
        run = self.client.create_run(
            self.experiment_id, start_time=self._start_time(), tags=tags, run_name="__default__"
        )
        self.client.set_terminated(run.info.run_id, "FINISHED")
        return run.info.run_id

    def candidate(
        self,
        candidate: str,
        holdout_rmse: float,
        *,
        parent_id: str,
        population_rmse: float | None = None,
        model=None,
        rmse: float | None = None,
        status: str | None = "FINISHED",
        tags=None,
    ) -> str:
        """A candidate child run with its tags and metrics (and its model, if given)."""
        version, _, model_type = candidate.partition(".")
        run = self.client.create_run(
            self.experiment_id,
            start_time=self._start_time(),
            run_name=candidate,
            tags={
                "kedro_env": "test",
                "mlflow.parentRunId": parent_id,
                "candidate": candidate,
                "data_version": version,
                "model_type": model_type,
                **(tags or {}),
            },
        )
        run_id = run.info.run_id
        metrics = {
            "rmse": holdout_rmse if rmse is None else rmse,
            "population_rmse": holdout_rmse if population_rmse is None else population_rmse,
            "population_mae": 0.5,
            "population_r2": 0.6,
            "population_mape": 25.0,
            "n_population": 80.0,
            "holdout_rmse": holdout_rmse,
            "holdout_mae": holdout_rmse * 0.7,
            "holdout_r2": 0.6,
            "holdout_mape": 25.0,
            "mae": 0.5,
            "r2": 0.6,
            "mape": 25.0,
            "train_seconds": 0.1,
            "n_holdout": 40.0,
            "n_test": 60.0,
        }
        for key, value in metrics.items():
            self.client.log_metric(run_id, key, value)
        if model is not None:  # as the catalog's `{version}.{model}.regressor` logs it
            with tempfile.TemporaryDirectory() as folder:
                joblib.dump(model, f"{folder}/model.joblib")
                self.client.log_artifact(run_id, f"{folder}/model.joblib")
        if status is not None:
            self.client.set_terminated(run_id, status)
        return run_id


@pytest.fixture
def runs(experiment_id):
    return Runs(experiment_id)


@pytest.fixture
def champion(experiment_id, champion_args) -> MlflowChampionDataset:
    """The catalog's ``champion``, in the fresh store."""
    return MlflowChampionDataset(REGISTERED_MODEL, save_args=champion_args)


#: The configured versions' coverage of the whole state (population_coverage's output).
COVERAGE = {
    "description": "the whole state",
    "filters": {},
    "rows": 100,
    "versions": {
        "v1": {"covers": True, "rows_kept": 100},
        "v2": {"covers": False, "rows_kept": 45},
        "v3": {"covers": False, "rows_kept": 45},
        "v4": {"covers": True, "rows_kept": 100},
    },
}


def promote_best(champion: MlflowChampionDataset) -> dict:
    """What the reporting pipeline does: candidates -> leaderboard -> gate -> registry."""
    leaderboard, _ = build_leaderboard(MlflowCandidateRunsDataset(EXPERIMENT).load(), COVERAGE)
    decision = decide_promotion(leaderboard, champion.load(), COVERAGE)
    champion.save(decision)
    return decision


def registered_versions() -> list[int]:
    client = mlflow.MlflowClient()
    return sorted(
        int(v.version) for v in client.search_model_versions(f"name = '{REGISTERED_MODEL}'")
    )


# --------------------------------------------------------- MlflowCandidateRunsDataset


def test_candidate_runs_are_the_finished_tagged_runs_newest_first(runs):
    git = {"git_commit": "0123abc"}
    parent = runs.parent(tags=git)
    oldest = runs.candidate("v1.linear", 0.74, parent_id=parent, rmse=0.73, tags=git)
    middle = runs.candidate("v2.linear", 0.78, parent_id=parent, rmse=0.55, tags=git)
    runs.candidate("v2.xgboost", 0.60, parent_id=parent, status="FAILED", tags=git)
    newest = runs.candidate("v4.xgboost", 0.70, parent_id=parent, tags=git)
    runs.candidate("v1.xgboost", 0.65, parent_id=parent, status=None, tags=git)  # RUNNING

    table = MlflowCandidateRunsDataset(EXPERIMENT).load()

    assert table["run_id"].tolist() == [newest, middle, oldest]
    assert parent not in table["run_id"].tolist()
    assert set(RUN_COLUMNS.values()) <= set(table.columns)
    assert {"rmse", "holdout_rmse", "holdout_mae", "n_holdout"} <= set(table.columns)
    assert not any(c.startswith(("tags.", "metrics.")) for c in table.columns)
    assert table["start_time"].is_monotonic_decreasing
    row = table.set_index("run_id").loc[middle]
    assert row["candidate"] == "v2.linear"
    assert row["data_version"] == "v2"
    assert row["model_type"] == "linear"
    assert row["parent_run_id"] == parent
    assert row["git_commit"] == "0123abc"
    assert row["kedro_env"] == "test"
    assert row["holdout_rmse"] == pytest.approx(0.78)
    assert row["rmse"] == pytest.approx(0.55)


def test_candidate_runs_load_without_the_git_commit_tag(runs):
    # the hook tags git_commit only inside a git work tree
    parent = runs.parent()
    run_id = runs.candidate("v1.linear", 0.74, parent_id=parent)

    table = MlflowCandidateRunsDataset(EXPERIMENT).load()

    assert table["run_id"].tolist() == [run_id]
    assert table["git_commit"].isna().all()
    assert table.loc[0, "candidate"] == "v1.linear"


def test_candidate_runs_of_an_empty_experiment_is_an_empty_table(experiment_id):
    table = MlflowCandidateRunsDataset(EXPERIMENT).load()

    assert table.empty
    assert list(table.columns) == list(RUN_COLUMNS.values())
    with pytest.raises(ValueError, match="common-holdout"):
        build_leaderboard(table, COVERAGE)  # the reporting pipeline then says what to run


def test_candidate_runs_ignore_runs_without_a_candidate_tag(runs):
    runs.parent()

    table = MlflowCandidateRunsDataset(EXPERIMENT).load()

    assert table.empty
    assert list(table.columns) == list(RUN_COLUMNS.values())


def test_candidate_runs_dataset_is_load_only(experiment_id):
    with pytest.raises(DatasetError, match="load-only"):
        MlflowCandidateRunsDataset(EXPERIMENT).save(pd.DataFrame())


# -------------------------------------------------------------- MlflowChampionDataset


def test_champion_of_an_empty_registry_is_empty(experiment_id):
    assert MlflowChampionDataset(REGISTERED_MODEL).load() == {}


def test_decision_not_to_promote_registers_nothing(runs, models, champion):
    run_id = runs.candidate("v1.linear", 0.7, parent_id=runs.parent(), model=models["v1.linear"])

    champion.save({"promote": False, "run_id": run_id, "candidate": "v1.linear"})

    assert champion.load() == {}
    assert mlflow.MlflowClient().search_registered_models() == []


def test_promotion_registers_the_run_model_under_the_champion_alias(runs, models, champion):
    run_id = runs.candidate("v1.linear", 0.74, parent_id=runs.parent(), model=models["v1.linear"])

    champion.save(
        {
            "promote": True,
            "run_id": run_id,
            "candidate": "v1.linear",
            "data_version": "v1",
            "population": "the whole state",
            "population_rmse": 0.81,
            "holdout_rmse": 0.74,
        }
    )

    assert champion.load() == {
        "name": REGISTERED_MODEL,
        "version": 1,
        "run_id": run_id,
        "candidate": "v1.linear",
        "data_version": "v1",
        "population": "the whole state",
        "population_rmse": 0.81,
        "holdout_rmse": 0.74,
        "model_uri": f"models:/{REGISTERED_MODEL}@champion",
    }
    assert registered_versions() == [1]


def test_promotion_gate_moves_the_alias_only_for_a_better_candidate(runs, models, champion):
    linear, xgboost = models["v1.linear"], models["v4.xgboost"]

    # 1. first run: no champion yet -> the best candidate becomes version 1
    parent = runs.parent()
    first = runs.candidate("v1.linear", 0.74, parent_id=parent, model=linear)
    runs.candidate("v2.linear", 0.78, parent_id=parent, rmse=0.50, model=linear)
    decision = promote_best(champion)
    assert decision["promote"] is True
    assert champion.load()["version"] == 1
    assert champion.load()["run_id"] == first

    # 2. a better candidate -> version 2, the alias moves
    better = runs.candidate("v4.xgboost", 0.70, parent_id=runs.parent(), model=xgboost)
    decision = promote_best(champion)
    assert decision["promote"] is True
    assert decision["current_version"] == 1
    current = champion.load()
    assert (current["version"], current["run_id"], current["population_rmse"]) == (2, better, 0.70)

    # 3. the champion's candidate is re-run and gets worse; the best is now worse than
    #    the champion -> the alias stays, no version is added
    runs.candidate("v4.xgboost", 0.90, parent_id=runs.parent(), model=xgboost)
    decision = promote_best(champion)
    assert decision["promote"] is False
    assert decision["candidate"] == "v1.linear"
    assert (champion.load()["version"], champion.load()["run_id"]) == (2, better)

    # 4. a candidate that exactly ties the champion -> the alias stays
    tie = runs.candidate("v1.linear", 0.70, parent_id=runs.parent(), model=linear)
    decision = promote_best(champion)
    assert decision["run_id"] == tie
    assert decision["promote"] is False
    assert "tie" in decision["reason"]
    assert (champion.load()["version"], champion.load()["run_id"]) == (2, better)
    assert registered_versions() == [1, 2]


def test_best_candidate_that_already_is_champion_adds_no_version(runs, models, champion):
    runs.candidate("v1.linear", 0.74, parent_id=runs.parent(), model=models["v1.linear"])
    promote_best(champion)

    decision = promote_best(champion)  # nothing new was trained

    assert decision["promote"] is False
    assert "already" in decision["reason"]
    assert registered_versions() == [1]


# ------------------------------------------------------------ serving the champion


def test_champion_predicts_raw_columns_like_the_trained_model(  # noqa: PLR0917 (fixtures)
    runs, models, champion, unseen_rows, tmp_path, monkeypatch
):
    model = models["v4.xgboost"]  # engineers its own features from the raw columns
    runs.candidate("v4.xgboost", 0.70, parent_id=runs.parent(), model=model)
    promote_best(champion)
    model_uri = champion.load()["model_uri"]
    expected = model.predict(unseen_rows)

    predictions = np.asarray(mlflow.pyfunc.load_model(model_uri).predict(unseen_rows))

    assert model_uri == f"models:/{REGISTERED_MODEL}@champion"
    assert predictions.shape == (len(unseen_rows),)
    assert np.isfinite(predictions).all()
    np.testing.assert_allclose(predictions, expected, rtol=1e-6)

    # the store and artifacts are found by absolute URI, not relative to the cwd
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    from_elsewhere = mlflow.pyfunc.load_model(model_uri).predict(unseen_rows)
    np.testing.assert_allclose(np.asarray(from_elsewhere), expected, rtol=1e-6)


def test_champion_rejects_rows_without_a_raw_column(runs, models, champion, unseen_rows):
    runs.candidate("v1.linear", 0.74, parent_id=runs.parent(), model=models["v1.linear"])
    promote_best(champion)
    served = mlflow.pyfunc.load_model(champion.load()["model_uri"])

    with pytest.raises(mlflow.exceptions.MlflowException, match="MedInc"):
        served.predict(unseen_rows.drop(columns="MedInc"))


def test_promoted_model_is_full_with_both_flavours_and_its_feature_code(
    runs, models, champion, unseen_rows, tmp_path
):
    run_id = runs.candidate("v4.xgboost", 0.70, parent_id=runs.parent(), model=models["v4.xgboost"])
    promote_best(champion)

    info = mlflow.models.get_model_info(champion.load()["model_uri"])
    assert info.run_id == run_id
    assert {"sklearn", "python_function"} <= set(info.flavors)
    assert info.flavors["sklearn"]["serialization_format"] == "skops"
    assert [c.name for c in info.signature.inputs.inputs] == RAW_FEATURES
    assert info.saved_input_example_info is not None
    local = Path(
        mlflow.artifacts.download_artifacts(champion.load()["model_uri"], dst_path=tmp_path)
    )
    code = local / "code" / "california_housing"
    assert sorted(p.name for p in code.iterdir()) == ["features.py"]  # a namespace package
    assert info.flavors["sklearn"]["code"] == "code"
    requirements = (local / "requirements.txt").read_text()
    assert "scikit-learn==" in requirements
    # the CPU-only build where it has wheels, the default build on macOS (markers kept)
    lines = requirements.splitlines()
    assert any(line.startswith("xgboost-cpu==") and '!= "darwin"' in line for line in lines)
    assert any(line.startswith("xgboost==") and '== "darwin"' in line for line in lines)
    sklearn_model = mlflow.sklearn.load_model(champion.load()["model_uri"])
    np.testing.assert_allclose(
        sklearn_model.predict(unseen_rows), models["v4.xgboost"].predict(unseen_rows), rtol=1e-6
    )


def test_champion_takes_integer_columns(runs, models, champion, unseen_rows):
    runs.candidate("v4.xgboost", 0.70, parent_id=runs.parent(), model=models["v4.xgboost"])
    promote_best(champion)
    as_from_a_csv = unseen_rows.round().astype({"HouseAge": "int64", "Population": "int64"})

    served = mlflow.pyfunc.load_model(champion.load()["model_uri"])

    np.testing.assert_allclose(
        np.asarray(served.predict(as_from_a_csv)),
        models["v4.xgboost"].predict(as_from_a_csv.astype(float)),
        rtol=1e-6,
    )


def test_candidate_runs_of_the_current_kedro_run_count_before_they_end(runs, experiment_id):
    parent = mlflow.start_run(experiment_id=experiment_id).info.run_id  # as kedro-mlflow does
    current = runs.candidate("v1.linear", 0.74, parent_id=parent, status=None)
    stale_parent = runs.parent()
    runs.candidate("v1.xgboost", 0.60, parent_id=stale_parent, status=None)  # a killed run

    table = MlflowCandidateRunsDataset(EXPERIMENT).load()

    assert table["run_id"].tolist() == [current]


# ------------------------------------------ the champion where the project is not installed


@pytest.fixture
def bare_venv(tmp_path):
    """A virtualenv with this venv's libraries (mlflow, scikit-learn, xgboost, skops...) but
    not this project: a ``.pth`` lists our site-packages, whose own ``.pth`` files (the
    project's editable install) are not processed from there. ``mlflow`` and ``uvicorn``
    get the console scripts pip would write."""
    venv = tmp_path / "bare-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "libraries.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    for script, (module, function) in {
        "mlflow": ("mlflow.cli", "cli"),
        "uvicorn": ("uvicorn.main", "main"),
    }.items():
        path = venv / "bin" / script
        path.write_text(
            f"#!{python}\nimport sys\nfrom {module} import {function}\nsys.exit({function}())\n"
        )
        path.chmod(0o755)
    missing = subprocess.run(
        [python, "-c", "import california_housing"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "No module named 'california_housing'" in missing.stderr
    return venv


@pytest.fixture
def promoted(runs, models, champion, unseen_rows):
    """A promoted v3 XGBoost champion, rows as a CSV gives them, and what it should predict."""
    model = models["v4.xgboost"]
    runs.candidate("v4.xgboost", 0.70, parent_id=runs.parent(), model=model)
    promote_best(champion)
    rows = unseen_rows.round(3).astype({"HouseAge": "int64", "Population": "int64"})
    return champion.load()["model_uri"], rows, model.predict(rows.astype(float))


def bare_env(venv):
    return os.environ | {
        "MLFLOW_TRACKING_URI": mlflow.get_tracking_uri(),
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
    }


@pytest.mark.slow
def test_champion_loads_and_predicts_where_the_project_is_not_installed(
    bare_venv, promoted, tmp_path
):
    model_uri, rows, expected = promoted
    rows.to_csv(tmp_path / "rows.csv", index=False)
    script = (
        "import json, sys, mlflow, pandas as pd\n"
        "rows = pd.read_csv(sys.argv[2])\n"
        "assert rows['HouseAge'].dtype == 'int64'\n"
        "print(json.dumps(mlflow.pyfunc.load_model(sys.argv[1]).predict(rows).tolist()))\n"
    )

    out = subprocess.run(
        [bare_venv / "bin" / "python", "-c", script, model_uri, tmp_path / "rows.csv"],
        cwd=tmp_path,
        env=bare_env(bare_venv),
        capture_output=True,
        text=True,
        check=False,
    )

    assert out.returncode == 0, out.stderr[-3000:]
    np.testing.assert_allclose(json.loads(out.stdout.strip().splitlines()[-1]), expected, rtol=1e-5)


@pytest.mark.slow
def test_mlflow_models_serve_answers_where_the_project_is_not_installed(
    bare_venv, promoted, tmp_path
):
    model_uri, rows, expected = promoted
    port = free_port()
    command = ["mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local"]
    url = f"http://127.0.0.1:{port}"
    with started(  # the server's workers share its process group
        [bare_venv / "bin" / command[0], *command[1:], "--host", "127.0.0.1", "--port", str(port)],
        ready=http_ok(f"{url}/ping"),
        log_path=tmp_path / "serve.log",
        cwd=tmp_path,
        env=bare_env(bare_venv),
    ):
        body = json.dumps({"dataframe_split": rows.to_dict(orient="split", index=False)})
        answer = _invoke(url, body)

    assert rows["HouseAge"].dtype == "int64"  # sent as JSON integers
    np.testing.assert_allclose(answer["predictions"], expected, rtol=1e-5)


def _invoke(url: str, body: str) -> dict:
    """POST /invocations of a ready model server."""
    headers = {"Content-Type": "application/json"}
    response = requests.post(f"{url}/invocations", data=body, headers=headers, timeout=60)
    assert response.ok, response.text
    return response.json()


def test_champion_names_a_column_that_does_not_hold_numbers(runs, models, champion, unseen_rows):
    runs.candidate("v4.xgboost", 0.70, parent_id=runs.parent(), model=models["v4.xgboost"])
    promote_best(champion)
    served = mlflow.pyfunc.load_model(champion.load()["model_uri"])

    with pytest.raises(ValueError, match="HouseAge"):
        served.predict(unseen_rows.astype({"HouseAge": str}))
