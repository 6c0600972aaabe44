"""MlflowMonitoringRunDataset on a real SQLite MLflow store."""

import shutil

import mlflow
import pytest

from california_housing.datasets import MlflowMonitoringRunDataset


@pytest.fixture
def store(tmp_path, mlflow_template):
    shutil.copy(mlflow_template, tmp_path / "mlflow.db")  # migrated already: copying is quick
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    yield tmp_path
    mlflow.set_tracking_uri(previous)


def test_each_save_is_one_finished_run_of_the_experiment(store):
    dataset = MlflowMonitoringRunDataset("monitoring", artifact_location=str(store / "art"))
    assert dataset.load() == {}  # no experiment yet
    with mlflow.start_run() as outer:  # a session's run stays active and untouched
        dataset.save(
            {
                "metrics": {"rows": 10, "live_rmse": None},
                "params": {"drift.psi": 0.2},
                "tags": {"status": "ok"},
                "artifacts": {"decision.json": "{}", "fig.png": b"\x89PNG"},
            }
        )
        assert mlflow.active_run().info.run_id == outer.info.run_id
    dataset.save({"metrics": {"rows": 20}})
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("monitoring")
    assert experiment.artifact_location.endswith("art")
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    assert [r.info.status for r in runs] == ["FINISHED", "FINISHED"]
    first = runs[0]
    assert first.data.metrics == {"rows": 10.0}  # None is not logged
    assert first.data.params == {"drift.psi": "0.2"}
    assert first.data.tags["kedro_run_id"] == outer.info.run_id
    assert {a.path for a in client.list_artifacts(first.info.run_id)} == {
        "decision.json",
        "fig.png",
    }
    history = client.get_metric_history(first.info.run_id, "rows")
    assert history[0].timestamp > 0
    assert dataset.load()["metrics"] == {"rows": 20.0}  # the latest run
