"""BackgroundMlflowDataset and its worker process, against a real SQLite MLflow store."""

import json
from types import SimpleNamespace

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, DatasetError
from kedro.pipeline import Node, Pipeline
from sklearn.linear_model import LinearRegression

from california_housing.datasets import BackgroundMlflowDataset, background
from california_housing.hooks import CandidateRunsHook, background_configs

EXAMPLE = {"a": 1.0, "b": 2.0}


def json_artifact(path):
    """Configuration of a JSON file logged as an MLflow artifact."""
    return {
        "type": "kedro_mlflow.io.artifacts.MlflowArtifactDataset",
        "dataset": {"type": "json.JSONDataset", "filepath": str(path)},
    }


MODEL = {
    "type": "kedro_mlflow.io.models.MlflowModelTrackingDataset",
    "flavor": "mlflow.sklearn",
    "save_args": {"name": "model", "pip_requirements": ["scikit-learn"], "input_example": EXAMPLE},
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A fresh SQLite tracking store with one experiment; MLflow points at it."""
    root = tmp_path_factory.mktemp("background")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri)
    experiment_id = client.create_experiment(
        "background", artifact_location=(root / "mlartifacts").as_uri()
    )
    yield SimpleNamespace(root=root, uri=uri, client=client, experiment_id=experiment_id)
    mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="module")
def worker(store):
    """One worker process for the module's tests (it takes seconds to start)."""
    running = background.start_worker(store.uri, [json_artifact("warm-up.json"), MODEL])
    running.accepting = True  # what CandidateRunsHook does when a pipeline run starts
    yield running
    background.stop_worker()


@pytest.fixture
def run_id(store):
    """A run of its own, bound to this thread's background saves (not active)."""
    run = store.client.create_run(store.experiment_id)
    background.bind_run(run.info.run_id)
    yield run.info.run_id
    background.bind_run(None)


@pytest.fixture
def fitted():
    """A real fitted model on the example's two columns."""
    rows = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    return LinearRegression().fit(rows, 2 * rows["a"] - rows["b"])


def test_saves_reach_the_bound_run_through_the_worker(store, worker, run_id, fitted, tmp_path):
    metrics = BackgroundMlflowDataset(json_artifact(tmp_path / "metrics.json"))
    model = BackgroundMlflowDataset(MODEL)

    metrics.save({"rmse": 0.5})
    model.save(fitted)

    assert worker.pending == 2  # handed over, not saved by this process
    assert mlflow.active_run() is None
    worker.wait()
    assert worker.pending == 0
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"rmse": 0.5}
    assert [a.path for a in store.client.list_artifacts(run_id)] == ["metrics.json"]
    (logged,) = mlflow.search_logged_models(
        experiment_ids=[store.experiment_id],
        filter_string=f"source_run_id = '{run_id}'",
        output_format="list",
    )
    loaded = mlflow.sklearn.load_model(logged.model_uri)
    rows = pd.DataFrame([EXAMPLE])
    np.testing.assert_allclose(loaded.predict(rows), fitted.predict(rows))


def test_a_failed_save_names_its_file_and_run_and_keeps_the_others(store, worker, run_id, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    broken = BackgroundMlflowDataset(json_artifact(blocker / "metrics.json"))
    fine = BackgroundMlflowDataset(json_artifact(tmp_path / "kept.json"))

    broken.save({"rmse": 0.5})
    fine.save({"rmse": 0.4})

    with pytest.raises(DatasetError, match=r"1 dataset\(s\)") as error:
        worker.wait()
    assert "not-a-folder/metrics.json" in str(error.value)
    assert run_id in str(error.value)
    assert json.loads((tmp_path / "kept.json").read_text()) == {"rmse": 0.4}
    assert [a.path for a in store.client.list_artifacts(run_id)] == ["kept.json"]
    worker.wait()  # the failure was reported once; the worker carries on


def test_outside_a_pipeline_run_it_saves_inline_into_the_active_run(
    store, worker, tmp_path, monkeypatch
):
    monkeypatch.setattr(worker, "accepting", False)  # e.g. a notebook's catalog.save
    dataset = BackgroundMlflowDataset(json_artifact(tmp_path / "inline.json"))
    with mlflow.start_run(experiment_id=store.experiment_id) as run:
        dataset.save({"rmse": 0.3})
    assert worker.pending == 0
    assert [a.path for a in store.client.list_artifacts(run.info.run_id)] == ["inline.json"]
    assert dataset.load() == {"rmse": 0.3}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"filepath": "x.json"}, "needs 'dataset'"),
        ({"type": "json.JSONDataset", "filepath": "x.json"}, "kedro-mlflow datasets only"),
    ],
)
def test_wrapping_anything_but_a_kedro_mlflow_dataset_is_refused(config, message):
    with pytest.raises(DatasetError, match=message):
        BackgroundMlflowDataset(config)


def test_catalog_entries_name_what_the_worker_warms_up():
    catalog = {
        "{version}.{model}.regressor": {
            "type": "CachedDataset",
            "dataset": {
                "type": "california_housing.datasets.BackgroundMlflowDataset",
                "dataset": MODEL,
            },
        },
        "{version}.{model}.plot": {
            "type": "california_housing.datasets.BackgroundMlflowDataset",
            "dataset": json_artifact("a.json"),
        },
        "{version}.{model}.other_plot": {
            "type": "california_housing.datasets.BackgroundMlflowDataset",
            "dataset": json_artifact("b.json"),
        },
        "plain": json_artifact("c.json"),
    }
    configs = background_configs(catalog)
    assert [c["type"] for c in configs] == [MODEL["type"], json_artifact("a.json")["type"]]


def test_a_failed_background_save_fails_the_run_and_its_candidates(store, tmp_path):
    """``after_pipeline_run`` waits for the worker; a failure marks every run FAILED."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    node = Node(lambda: {"rmse": 0.5}, None, "metrics", name="evaluate")
    pipeline = Pipeline([node], namespace="v9.m", tags=["candidate"])
    broken = BackgroundMlflowDataset(json_artifact(blocker / "metrics.json"))
    catalog = DataCatalog({"v9.m.metrics": broken})
    hook = CandidateRunsHook()
    parent = mlflow.start_run(experiment_id=store.experiment_id)
    try:
        hook.before_pipeline_run({"pipeline_names": ["test"]}, pipeline, catalog)
        assert background.accepting_worker() is not None  # started for this run
        (run_node,) = pipeline.nodes
        hook.before_node_run(run_node, {})
        catalog.save("v9.m.metrics", {"rmse": 0.5})
        hook.after_dataset_saved("v9.m.metrics", run_node)

        with pytest.raises(DatasetError, match="not-a-folder"):
            hook.after_pipeline_run()
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        background.stop_worker()
    runs = store.client.search_runs(
        [store.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert [r.info.run_name for r in runs] == ["v9.m"]
    assert runs[0].info.status == "FAILED"
    assert store.client.get_run(parent.info.run_id).info.status == "FAILED"
    assert background.active_worker() is None
