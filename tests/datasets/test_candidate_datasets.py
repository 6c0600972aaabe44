"""Candidate datasets against a real SQLite MLflow store: they log to the run they name."""

import json

import joblib
import mlflow
import pandas as pd
import pytest
from kedro.io import DatasetError
from sklearn.linear_model import LinearRegression

from california_housing.datasets import CandidateArtifactDataset, CandidateMetricsDataset
from tests.mlflow_store import store


@pytest.fixture
def parent(mlflow_template, tmp_path):
    """The run ``kedro run`` has open (kedro-mlflow's parent run)."""
    with store(mlflow_template, tmp_path) as experiment_id:
        yield mlflow.start_run(experiment_id=experiment_id).info.run_id


def child(parent_id, candidate):
    client = mlflow.MlflowClient()
    experiment = client.get_run(parent_id).info.experiment_id
    (run,) = client.search_runs(
        [experiment],
        f"tags.mlflow.parentRunId = '{parent_id}' and tags.candidate = '{candidate}'",
    )
    return run


def artifacts(run_id, path=None):
    return sorted(a.path for a in mlflow.MlflowClient().list_artifacts(run_id, path))


def test_a_file_is_written_and_logged_to_the_named_candidates_run(parent, tmp_path):
    dataset = CandidateArtifactDataset(
        "v2.linear",
        {"type": "json.JSONDataset", "filepath": str(tmp_path / "out" / "metrics.json")},
    )

    dataset.save({"rmse": 0.5})

    run = child(parent, "v2.linear")
    assert artifacts(run.info.run_id) == ["metrics.json"]
    assert dataset.load() == {"rmse": 0.5}
    assert artifacts(parent) == []  # nothing on the parent run
    assert mlflow.active_run().info.run_id == parent


def test_a_model_file_is_logged_and_loads_in_the_documented_line(parent, tmp_path):
    model = LinearRegression().fit(pd.DataFrame({"x": [0.0, 1.0, 2.0]}), [1.0, 3.0, 5.0])
    dataset = CandidateArtifactDataset(
        "v1.linear",
        {
            "type": "pickle.PickleDataset",
            "backend": "joblib",
            "filepath": str(tmp_path / "models" / "model.joblib"),
        },
    )

    dataset.save(LinearRegression())
    dataset.save(model)  # a rerun replaces the local copy and the run's

    run_id = child(parent, "v1.linear").info.run_id
    assert artifacts(run_id) == ["model.joblib"]
    loaded = joblib.load(mlflow.artifacts.download_artifacts(f"runs:/{run_id}/model.joblib"))
    assert loaded.predict(pd.DataFrame({"x": [3.0]})).tolist() == pytest.approx([7.0])
    assert dataset.load().coef_.tolist() == pytest.approx([2.0])


def test_metrics_go_to_the_candidates_run_in_either_form(parent):
    CandidateMetricsDataset("v3.xgboost").save(
        {"rmse": 0.4, "holdout_rmse": {"value": 0.45, "step": 0}}
    )

    run = child(parent, "v3.xgboost")
    assert run.data.metrics == {"rmse": 0.4, "holdout_rmse": 0.45}
    assert mlflow.MlflowClient().get_run(parent).data.metrics == {}


def test_two_datasets_of_one_candidate_share_its_run(parent, tmp_path):
    CandidateMetricsDataset("v1.xgboost").save({"r2": 0.8})
    CandidateArtifactDataset(
        "v1.xgboost", {"type": "json.JSONDataset", "filepath": str(tmp_path / "m.json")}
    ).save({"r2": 0.8})

    run = child(parent, "v1.xgboost")  # exactly one child run
    assert run.data.metrics == {"r2": 0.8}
    assert artifacts(run.info.run_id) == ["m.json"]


def test_outside_a_kedro_run_nothing_is_written(mlflow_template, tmp_path):
    target = tmp_path / "metrics.json"
    dataset = CandidateArtifactDataset(
        "v1.linear", {"type": "json.JSONDataset", "filepath": str(target)}
    )

    with store(mlflow_template, tmp_path), pytest.raises(DatasetError, match="kedro run"):
        dataset.save({"rmse": 1.0})

    assert not target.exists()


def test_a_dataset_without_a_file_is_refused_naming_the_candidate():
    with pytest.raises(DatasetError, match=r"v1\.linear.*filepath"):
        CandidateArtifactDataset("v1.linear", {"type": "json.JSONDataset"})


def test_mlflow_metrics_are_save_only():
    with pytest.raises(DatasetError, match="save-only"):
        CandidateMetricsDataset("v1.linear").load()


def test_the_catalog_names_the_run_of_every_candidate_output():
    """A newcomer reads from the catalog entry which run an output lands in."""
    from kedro.config import OmegaConfigLoader  # noqa: PLC0415

    from california_housing.settings import CONFIG_LOADER_ARGS  # noqa: PLC0415
    from tests.datasets.test_mlflow_datasets import REPO_ROOT  # noqa: PLC0415

    catalog = OmegaConfigLoader(conf_source=str(REPO_ROOT / "conf"), **CONFIG_LOADER_ARGS)[
        "catalog"
    ]
    for name in ("regressor", "metrics", "mlflow_metrics", "predictions_plot"):
        entry = catalog[f"{{version}}.{{model}}.{name}"]
        entry = entry.get("dataset", entry) if entry["type"] == "CachedDataset" else entry
        assert entry["candidate"] == "{version}.{model}", (name, json.dumps(entry))
