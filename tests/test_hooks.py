"""TrackingHook with Kedro's runner calling it, against a real SQLite MLflow store.

kedro-mlflow's part (opening the parent run) is played by ``mlflow.start_run``; the
pipeline-level hooks are called the way ``KedroSession.run`` calls them. The slow tests
at the end run ``kedro run`` itself in a copy of the project.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from kedro.framework.hooks import specs
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro.runner import SequentialRunner
from pluggy import PluginManager

from california_housing.hooks import TrackingHook, flatten, git_commit
from california_housing.tracking import CANDIDATE_TAG

REPO_ROOT = Path(__file__).resolve().parents[1]
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]


@pytest.fixture
def repo(tmp_path):
    """A git work tree with one commit."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "README.md").write_text("a project\n")
    subprocess.run([*GIT, "init", "-q"], cwd=root, check=True)
    subprocess.run([*GIT, "add", "."], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-qm", "first"], cwd=root, check=True)
    return root


def copy_rows(frame):
    return frame.copy()


def fit(train, model, *after):
    if model.get("fail"):
        raise ValueError("this candidate fails")
    return float(train["y"].mean())


def score(mean, test):
    return float(((test["y"] - mean) ** 2).mean() ** 0.5)


def candidate(name, tags=(CANDIDATE_TAG,), after=()):
    """A two-node candidate ``v1.<name>`` reading ``v1.train`` and ``v1.test``.

    ``after``: outputs of other candidates its fit waits for (to order the nodes).
    """
    return Pipeline(
        [
            Node(fit, ["train", "params:model", *after], "mean", name="fit"),
            Node(score, ["mean", "test"], "rmse", name="score"),
        ],
        namespace=f"v1.{name}",
        inputs={"train": "v1.train", "test": "v1.test"} | {a: a for a in after},
        parameters={"params:model": f"params:models.{name}"},
        tags=list(tags),
    )


def prepare():
    return Pipeline([Node(copy_rows, "raw", "v1.train", name="prepare_train")])


@pytest.fixture
def catalog(tmp_path):
    """Files as the project's catalog declares them, plus raw rows and parameters."""
    test = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1.0, 2.5, 2.0]})
    test.to_parquet(tmp_path / "test.parquet")
    catalog = DataCatalog.from_config(
        {
            "v1.train": {
                "type": "pandas.ParquetDataset",
                "filepath": str(tmp_path / "train.parquet"),
                "versioned": True,
            },
            "v1.test": {
                "type": "pandas.ParquetDataset",
                "filepath": str(tmp_path / "test.parquet"),
            },
        }
    )
    catalog["raw"] = MemoryDataset(pd.DataFrame({"x": [0.5, 1.5, 2.5, 3.5], "y": [1.0, 2.0, 3, 4]}))
    catalog["params:models.good"] = MemoryDataset({"alpha": 0.5, "inner": {"depth": 3}})
    catalog["params:models.bad"] = MemoryDataset({"fail": True})
    return catalog


def run(pipeline, catalog, repo, *, experiment_id, pipelines=("data_science",)):
    """What ``kedro run`` does around the runner, with TrackingHook registered.

    Returns:
        The parent run's id; the parent is left open (kedro-mlflow would end it).
    """
    manager = PluginManager("kedro")
    for spec in (specs.NodeSpecs, specs.PipelineSpecs, specs.DatasetSpecs):
        manager.add_hookspecs(spec)
    manager.register(TrackingHook())
    parent = mlflow.start_run(experiment_id=experiment_id).info.run_id
    run_params = {
        "env": "test",
        "pipeline_names": list(pipelines),
        "run_id": "2026-01-05T10.00.00.000Z",
        "project_path": str(repo),
    }
    args = {"run_params": run_params, "pipeline": pipeline, "catalog": catalog}
    manager.hook.before_pipeline_run(**args)
    try:
        SequentialRunner().run(pipeline, catalog, manager)
    except Exception as error:
        manager.hook.on_pipeline_error(error=error, **args)
        raise
    manager.hook.after_pipeline_run(run_result={}, **args)
    return parent


def child_runs(parent_id):
    client = mlflow.MlflowClient()
    experiment = client.get_run(parent_id).info.experiment_id
    runs = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent_id}'")
    return {run.data.tags["candidate"]: run for run in runs}


# --------------------------------------------------------------------- helpers


def test_flatten_names_nested_parameters_like_kedro_mlflow():
    nested = {"models.xgboost": {"class": "X", "params": {"depth": 3}, "empty": {}}}

    assert flatten(nested) == {
        "models.xgboost.class": "X",
        "models.xgboost.params.depth": 3,
        "models.xgboost.empty": {},
    }


def test_git_commit_sees_the_head_and_uncommitted_changes(repo, tmp_path):
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()

    assert git_commit(repo) == (head, False)
    (repo / "README.md").write_text("changed\n")
    assert git_commit(repo) == (head, True)
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    assert git_commit(outside) is None


# ------------------------------------------------------------------ the runs


def test_parent_run_is_tagged_with_commit_env_pipelines_and_session(experiment_id, catalog, repo):
    parent = run(prepare(), catalog, repo, experiment_id=experiment_id)

    tags = mlflow.MlflowClient().get_run(parent).data.tags
    head = git_commit(repo)[0]
    assert (tags["git_commit"], tags["mlflow.source.git.commit"]) == (head, head)
    assert tags["git_dirty"] == "false"
    assert (tags["kedro_env"], tags["kedro_pipeline"]) == ("test", "data_science")
    assert tags["kedro_session_id"] == "2026-01-05T10.00.00.000Z"


def test_candidate_params_and_input_files_land_in_its_own_child_run(experiment_id, catalog, repo):
    parent = run(prepare() + candidate("good"), catalog, repo, experiment_id=experiment_id)

    (child,) = child_runs(parent).values()
    assert child.info.run_name == "v1.good"
    assert child.info.status == "FINISHED"
    assert child.data.params == {"models.good.alpha": "0.5", "models.good.inner.depth": "3"}
    inputs = {d.dataset.name: d for d in child.inputs.dataset_inputs}
    assert set(inputs) == {"v1.train", "v1.test"}  # not raw (in memory), not its own results
    train = inputs["v1.train"]
    assert [tag.value for tag in train.tags] == ["training"]
    assert [tag.value for tag in inputs["v1.test"].tags] == ["evaluation"]
    assert train.dataset.digest
    assert '"num_rows": 4' in train.dataset.profile
    # the exact version that was read: <filepath>/<version>/<file name>
    (version,) = catalog.get("v1.train").list_versions(full_path=False)
    assert f"train.parquet/{version}/train.parquet" in train.dataset.source
    parent_run = mlflow.MlflowClient().get_run(parent)
    assert parent_run.inputs.dataset_inputs == []
    assert child.data.tags["git_commit"] == parent_run.data.tags["git_commit"]


def test_a_run_failing_before_any_candidate_leaves_no_child_runs(experiment_id, catalog, repo):
    catalog["raw"] = MemoryDataset(pd.DataFrame({"x": [1.0]}))  # no "y": a candidate fails
    broken = Pipeline(
        [Node(lambda rows: rows.assign(y=rows["missing"]), "raw", "v1.train", name="prepare")]
    )

    with pytest.raises(KeyError, match="missing"):
        run(broken + candidate("good"), catalog, repo, experiment_id=experiment_id)

    parent = mlflow.active_run().info.run_id
    assert child_runs(parent) == {}


def test_a_failing_candidate_ends_every_child_run_failed(experiment_id, catalog, repo):
    pipeline = prepare() + candidate("good") + candidate("bad", after=["v1.good.rmse"])

    with pytest.raises(ValueError, match="this candidate fails"):
        run(pipeline, catalog, repo, experiment_id=experiment_id)

    parent = mlflow.active_run().info.run_id
    status = {name: r.info.status for name, r in child_runs(parent).items()}
    assert status == {"v1.good": "FAILED", "v1.bad": "FAILED"}


def test_a_pipeline_without_candidates_has_no_child_runs(experiment_id, catalog, repo):
    inference = candidate("good", tags=())  # same nodes, not tagged as a candidate

    parent = run(prepare() + inference, catalog, repo, experiment_id=experiment_id)

    assert child_runs(parent) == {}
    assert mlflow.MlflowClient().get_run(parent).data.params == {}


def test_without_an_active_run_the_hook_does_nothing(catalog, repo, experiment_id):
    manager = PluginManager("kedro")
    for spec in (specs.NodeSpecs, specs.DatasetSpecs):
        manager.add_hookspecs(spec)
    manager.register(TrackingHook())

    SequentialRunner().run(prepare() + candidate("good"), catalog, manager)

    assert catalog.get("v1.train").exists()  # the pipeline ran
    assert mlflow.search_runs([experiment_id]).empty


# ------------------------------------------------------------- `kedro run` itself


@pytest.fixture
def project_copy(tmp_path):
    """The project's conf and package (linked) in a temporary git work tree."""
    root = tmp_path / "project"
    shutil.copytree(REPO_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    shutil.copy(REPO_ROOT / "pyproject.toml", root)
    (root / "src").mkdir()
    package = REPO_ROOT / "src" / "california_housing"
    (root / "src" / "california_housing").symlink_to(package, target_is_directory=True)
    subprocess.run([*GIT, "init", "-q"], cwd=root, check=True)
    subprocess.run([*GIT, "add", "."], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-qm", "snapshot"], cwd=root, check=True)
    return root


def kedro_run(root, *args):
    return [sys.executable, "-m", "kedro", "run", "--env", "test", *args]


def project_runs(root):
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{root}/mlflow.db")
    experiment = client.get_experiment_by_name("california-housing-test")
    return [] if experiment is None else client.search_runs([experiment.experiment_id])


@pytest.mark.slow
def test_kedro_run_failing_before_its_first_candidate_leaves_no_child_runs(project_copy):
    # data_science before data_processing ever ran: the first candidate cannot load its data
    result = subprocess.run(
        kedro_run(project_copy, "--pipelines", "data_science"),
        cwd=project_copy,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode != 0
    assert "train" in result.stderr
    (parent,) = project_runs(project_copy)
    assert parent.info.status == "FAILED"
    assert "mlflow.parentRunId" not in parent.data.tags


@pytest.mark.slow
def test_kill_9_of_kedro_run_leaves_no_process_behind(project_copy):
    subprocess.run(
        kedro_run(project_copy, "--pipelines", "data_processing"),
        cwd=project_copy,
        capture_output=True,
        check=True,
    )
    run = subprocess.Popen(
        kedro_run(project_copy, "--pipelines", "data_science"),
        cwd=project_copy,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: whatever it starts is in it
    )
    try:
        deadline = time.monotonic() + 300
        while not any("candidate" in r.data.tags for r in project_runs(project_copy)):
            assert run.poll() is None, "kedro run ended before its first candidate logged"
            assert time.monotonic() < deadline, "no candidate run appeared in 5 minutes"
            time.sleep(0.5)

        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        time.sleep(1)

        with pytest.raises(ProcessLookupError):
            os.killpg(run.pid, 0)  # no process is left in its group
    finally:
        try:
            os.killpg(run.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
