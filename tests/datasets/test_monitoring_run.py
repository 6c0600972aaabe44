"""MlflowMonitoringRunDataset on a real SQLite MLflow tracking store."""

import mlflow

from california_housing.datasets import MlflowMonitoringRunDataset


def test_each_save_is_one_finished_run_of_the_experiment(experiment_id, tmp_path):
    dataset = MlflowMonitoringRunDataset("monitoring", artifact_location=str(tmp_path / "art"))
    assert dataset.load() == {}  # no experiment yet
    # a session's run stays active and untouched
    with mlflow.start_run(experiment_id=experiment_id) as outer:
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
