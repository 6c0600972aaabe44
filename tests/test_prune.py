"""`kedro prune` on a project that ran the loop several times (test environment, real data)."""

import shutil
from pathlib import Path

import mlflow
import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from california_housing.schema import RAW_FEATURES
from tests.conftest import copy_project, environment_kept, kedro_cli, run_project

pytestmark = pytest.mark.slow  # four `kedro run --env test` and four `kedro prune`: ~2 min

ENV = "keep_two"
KEEP_TWO = {"keep_last": 2, "keep_days": None}


def _size(root: Path) -> int:
    folders = (root / "data" / "test", root / "mlartifacts")
    return sum(p.stat().st_size for folder in folders for p in folder.rglob("*") if p.is_file())


def _listed(output: str, verb: str) -> list[str]:
    return sorted(
        line.removeprefix(f"{verb}: ")
        for line in output.splitlines()
        if line.startswith(f"{verb}: ")
    )


def _prune(root: Path) -> list[str]:
    """A dry run, then the removal: the removal removes exactly what the dry run listed."""
    dry = kedro_cli(root, "prune", "--env", ENV).stdout
    done = kedro_cli(root, "prune", "--env", ENV, "--yes").stdout
    assert _listed(dry, "would remove") == _listed(done, "removed")
    assert "Nothing was removed" in dry
    return _listed(done, "removed")


@pytest.fixture(scope="module")
def pruned(tmp_path_factory):
    """A project copy whose env `keep_two` is `test` with a keep-last-2 policy, run four
    times with a prune after each of the last two runs; the sizes of data/ and mlartifacts/.

    The first run promotes the champion; the others, with the same data and seeds, do not
    beat it: its run and its dataset versions stay whatever their age."""
    root = copy_project(tmp_path_factory.mktemp("prune") / "project")
    shutil.copytree(root / "conf" / "test", root / "conf" / ENV)
    policy = {"versions": {"default": KEEP_TWO}, "runs": KEEP_TWO, "monitoring_runs": KEEP_TWO,
              "after_retrain": False}  # fmt: skip
    (root / "conf" / ENV / "parameters_retention.yml").write_text(
        yaml.safe_dump({"retention": policy})
    )
    sizes, removed = [], []
    for run in range(4):
        run_project(root, env=ENV)
        if run >= 2:
            removed.append(_prune(root))
            sizes.append(_size(root))
    return root, sizes, removed


def test_disk_use_stops_growing_with_the_number_of_runs(pruned):
    _, (after_three, after_four), (first, second) = pruned

    assert first == []  # the champion's run and the newest two: all kept
    runs = [line for line in second if line.startswith("run:")]
    assert sum(" __default__ (" in line for line in runs) == 1  # one kedro run's tree
    assert any(" v4.xgboost_tuned (" in line for line in runs)  # with its candidates
    assert any(line.startswith("dataset version:") for line in second)
    assert after_four <= after_three * 1.05, (after_three, after_four)


def test_the_champion_still_loads_and_monitoring_finds_its_reference(
    pruned, raw_frame, monkeypatch
):
    root, _, _ = pruned
    monkeypatch.chdir(root)  # the project's mlflow.yml finds its store from here
    previous = mlflow.get_tracking_uri()
    with environment_kept():
        try:
            bootstrap_project(root)
            with KedroSession.create(project_path=root, env=ENV) as session:
                splits = session.load_context().catalog.load("champion_splits")
            model = mlflow.pyfunc.load_model("models:/california-housing-test@champion")
            predictions = model.predict(raw_frame[RAW_FEATURES].head(5))
        finally:
            mlflow.set_tracking_uri(previous)

    assert len(predictions) == 5
    assert splits["data_version"] == "v4"
    assert len(splits["train"]) == 16_512 and len(splits["test"]) == 4_128
