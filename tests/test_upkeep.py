"""`kedro prune` and `kedro archive` on projects that ran the loop (test environment, real data)."""

import shutil
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from california_housing.datasets import PredictionLogDataset
from california_housing.schema import RAW_FEATURES, TARGET
from california_housing.serving.log.synthetic import log_rows, write_log
from tests.conftest import copy_project, environment_kept, kedro_cli, run_project
from tests.serving.conftest import ROW, start_server, wait_ready

pytestmark = pytest.mark.slow  # runs of the loop, prunes, a real service: ~3 min

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


# ----------------------------------------------------------------------------- kedro archive


def _old_rows(raw_frame, url: str) -> set[str]:
    """Three days of logged predictions, ten days ago, every 4th with feedback."""
    rows = raw_frame.sample(900, random_state=1).reset_index(drop=True)
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    logged, fed = log_rows(
        rows,
        rows[TARGET].to_numpy(),
        start=start - timedelta(days=10),
        seconds_apart=288,
        feedback_every=4,
    )
    write_log(url, logged, fed)
    return set(logged["prediction_id"])


def _read(url: str, archive: str | None, window: dict) -> dict[str, pd.DataFrame]:
    read = {
        query: PredictionLogDataset(
            query=query, credentials={"con": url}, window=window, archive=archive, chunk_rows=200
        ).load()
        for query in ("window_values", "window_traffic", "window_labelled")
    }
    read["window_values"] = pd.DataFrame(np.concatenate(list(read["window_values"])))
    return read


def test_archiving_while_the_service_writes_keeps_every_row_once(project, raw_frame, tmp_path):
    url = f"sqlite:///{tmp_path}/prediction_log.db"
    archive = tmp_path / "archive"
    old_ids = _old_rows(raw_frame, url)
    now = datetime.now(UTC)
    old = {
        "since": (now - timedelta(days=11)).isoformat(),
        "until": (now - timedelta(days=5)).isoformat(),
    }
    before = _read(url, None, old)
    settings = {"SERVING_LOG_ARCHIVE": str(archive), "SERVING_LOG_ARCHIVE_AFTER_DAYS": "2"}
    served: list[str] = []

    with start_server(project, tmp_path, extra_env=settings) as server:
        wait_ready(server)
        stop = threading.Event()

        def traffic() -> None:
            with server.client() as client:
                while not stop.is_set():
                    answer = client.post("/predict", json={"rows": [ROW] * 20})
                    served.extend(p["prediction_id"] for p in answer.json()["predictions"])

        sender = threading.Thread(target=traffic)
        sender.start()
        try:
            done = kedro_cli(
                project, "archive", "--env", "test", SERVING_LOG_DB_URL=url, **settings
            )
        finally:
            stop.set()
            sender.join(timeout=60)
        with server.client() as client:
            page = client.get("/predictions", params={"limit": 1}).json()

    assert "kedro archive: 3 day(s)" in done.stdout, done.stdout
    assert page["archive"]["location"] == str(archive) and page["archive"]["after_days"] == 2
    assert len(served) >= 20  # the service answered (and logged) while the days moved
    with sqlite3.connect(tmp_path / "prediction_log.db") as db:
        in_database = [row[0] for row in db.execute("SELECT prediction_id FROM predictions")]
    archived = pd.concat(
        pd.read_parquet(path) for path in archive.glob("predictions/day=*/rows.parquet")
    )["prediction_id"].tolist()
    everything = in_database + archived
    assert len(everything) == len(set(everything))  # each row once
    assert set(everything) == old_ids | set(served)
    assert set(archived) == old_ids
    after = _read(url, str(archive), old)
    for name, frame in before.items():  # monitoring's numbers over the old days: unchanged
        key = list(frame.columns)
        pd.testing.assert_frame_equal(
            frame.sort_values(key).reset_index(drop=True),
            after[name].sort_values(key).reset_index(drop=True),
            check_dtype=False,
        )
