"""The candidate-run rule against a real SQLite MLflow store."""

import threading

import mlflow
import pytest

from california_housing import tracking


@pytest.fixture
def parent(experiment_id):
    """The run ``kedro run`` would have open, tagged as the hook tags it."""
    run = mlflow.start_run(experiment_id=experiment_id, run_name="__default__")
    mlflow.set_tags({"kedro_env": "test", "git_commit": "abc123"})
    yield run.info.run_id
    mlflow.end_run()


def children(parent_id):
    client = mlflow.MlflowClient()
    experiment = client.get_run(parent_id).info.experiment_id
    return client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent_id}'")


def test_a_candidate_is_named_version_dot_model():
    assert tracking.candidate_name("v3", "xgboost_tuned") == "v3.xgboost_tuned"


def test_child_run_is_created_on_first_use_with_the_parents_tags(parent):
    assert children(parent) == []

    run_id = tracking.candidate_run_id("v3.xgboost")

    (child,) = children(parent)
    assert child.info.run_id == run_id
    assert child.info.run_name == "v3.xgboost"
    assert child.info.status == "RUNNING"
    tags = child.data.tags
    assert (tags["candidate"], tags["data_version"], tags["model_type"]) == (
        "v3.xgboost",
        "v3",
        "xgboost",
    )
    assert (tags["kedro_env"], tags["git_commit"]) == ("test", "abc123")
    assert mlflow.active_run().info.run_id == parent  # the child was never made active


def test_one_child_per_candidate_even_from_many_threads(parent):
    ids = []

    def ask():
        ids.append(tracking.candidate_run_id("v1.linear", parent))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(ids)) == 1
    assert len(children(parent)) == 1


def test_an_existing_child_is_found_by_name(parent, experiment_id):
    client = mlflow.MlflowClient()
    made_elsewhere = client.create_run(
        experiment_id, tags={"mlflow.parentRunId": parent, "candidate": "v2.linear"}
    )

    assert tracking.candidate_run_id("v2.linear", parent) == made_elsewhere.info.run_id


def test_without_a_parent_run_the_error_says_how_to_get_one(experiment_id):
    with pytest.raises(RuntimeError, match=r"v1\.linear.*kedro run"):
        tracking.candidate_run_id("v1.linear")


def test_close_ends_running_children_and_only_those(parent):
    done = tracking.candidate_run_id("v1.linear")
    running = tracking.candidate_run_id("v1.xgboost")
    mlflow.MlflowClient().set_terminated(done, "FINISHED")

    assert tracking.close_candidate_runs(parent, "FAILED") == 1

    status = {run.info.run_id: run.info.status for run in children(parent)}
    assert status == {done: "FINISHED", running: "FAILED"}
    assert tracking.close_candidate_runs(parent) == 0  # and it never creates one
    assert len(children(parent)) == 2
