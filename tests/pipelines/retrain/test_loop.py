"""The loop end to end: service -> traffic -> monitoring -> retrain -> gate -> service.

On a copy of the e2e project (``kedro run --env test`` done): a real ``kedro serve`` on
127.0.0.1 (polling the alias every 2 s), ``kedro traffic`` replaying drifted rows with
their feedback, ``kedro monitor --retrain`` (the monitoring run, then the retrain run it
advises), and the service answering with the version the promotion gate chose. Then a
corrupted feedback row in the log stops a retrain before it writes anything.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path

import mlflow
import pytest

from tests.conftest import kedro_cli
from tests.serving.conftest import serving_env, start_server, wait_ready

pytestmark = pytest.mark.slow

API_KEY = "loop-key"
REPORTS = Path("data/test/08_reporting")


@pytest.fixture(scope="module")
def loop_project(project, tmp_path_factory):
    """A private copy of the e2e project: the loop moves its champion."""
    root = tmp_path_factory.mktemp("loop") / "project"
    shutil.copytree(project, root, symlinks=True)
    return root


def _wait_for_rows(db: Path, rows: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(db) as connection:
            count = connection.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]
        if count >= rows:
            return
        time.sleep(0.3)
    pytest.fail(f"the log holds {count} feedback rows, not {rows}")


def _snapshot(root: Path) -> dict[str, float]:
    data = root / "data" / "test"
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in data.rglob("*") if p.is_file()}


def _assert_feedback_recorded(root: Path, added: int) -> None:
    """The retrain run records the rows it added as its input dataset, and their count."""
    client = mlflow.MlflowClient(f"sqlite:///{root}/mlflow.db")
    experiment = client.get_experiment_by_name("california-housing-test")
    (run,) = client.search_runs(
        [experiment.experiment_id],
        "tags.kedro_pipeline = 'retrain' and attributes.run_name = 'retrain'",
    )
    (record,) = run.inputs.dataset_inputs
    assert record.dataset.name == "feedback_source"
    assert json.loads(record.dataset.profile)["num_rows"] == added
    assert run.data.metrics["retrain.feedback_rows_added"] == added


def _assert_whole_state_traffic(summary: dict, version: int) -> None:
    """1,500 rows of the whole state, answered in domain: its test places (where live error is
    measured) and train places away from them (whose feedback retraining may add)."""
    assert summary["rows"] == summary["feedback_rows"] == 1500
    assert summary["model_versions"] == {str(version): 1500}
    assert summary["drawn_from"] == "the whole state"
    assert summary["test_rows"] + summary["train_rows"] == 1500
    assert min(summary["test_rows"], summary["train_rows"]) > 200
    assert summary["out_of_domain"] == 0


def _assert_monitoring_decision(decision: dict, summary: dict, version: int) -> None:
    """Drifted incomes advise retraining; live error is scored on the test places only."""
    assert decision["retrain"] is True
    flagged = {k for k, v in decision["drift"].items() if v["drifted"]}
    assert flagged == {"MedInc", "predicted_MedHouseVal"}
    assert decision["window"]["rows"] == 1500
    assert decision["ood_rate"] == 0.0
    assert decision["champion"]["version"] == version
    live = decision["live_error"]
    assert (live["rows"], live["rows_at_other_places"]) == (
        summary["test_rows"],
        summary["train_rows"],
    )


def test_the_loop_closes(loop_project, tmp_path):
    root = loop_project
    env = serving_env(root, "loop", poll_seconds=2)
    with start_server(root, tmp_path, env=env, extra_env={"SERVING_API_KEY": API_KEY}) as server:
        wait_ready(server)
        log_url = f"prediction_log_url=sqlite:///{server.db_path}"
        with server.client() as client:
            before = client.get("/model").json()
            # feedback for an unknown prediction id is refused and stored nowhere
            unknown = client.post(
                "/feedback",
                headers={"X-API-Key": API_KEY},
                json={"feedback": [{"prediction_id": "0" * 32, "MedHouseVal": 1.0}]},
            )
            assert unknown.status_code == 422

        sent = kedro_cli(
            root,
            "traffic",
            "--env",
            "test",
            "--scenario",
            "drift",
            "--rows",
            "1500",
            "--url",
            server.url,
            "--feedback",
            "--seed",
            "7",
            timeout=900,
            SERVING_API_KEY=API_KEY,
        )
        summary = json.loads(sent.stdout.strip().splitlines()[-1])
        _assert_whole_state_traffic(summary, before["version"])
        _wait_for_rows(server.db_path, 1500)

        kedro_cli(
            root,
            *("monitor", "--env", "test", "--retrain", "--params", log_url),
            timeout=900,
            SERVING_API_KEY=API_KEY,
        )
        decision = json.loads((root / REPORTS / "monitoring/decision.json").read_text())
        _assert_monitoring_decision(decision, summary, before["version"])

        retrain = json.loads((root / REPORTS / "monitoring/retrain.json").read_text())
        added, feedback = retrain["feedback"]["added_rows"], retrain["feedback"]
        assert feedback["refused_test_places"] >= summary["test_rows"]  # never trained on
        assert added + feedback["refused_duplicates"] + feedback["refused_test_places"] == 1500
        assert added > 0  # scaled incomes at train places: new rows, from the whole state
        _assert_feedback_recorded(root, added)
        promotion = json.loads((root / REPORTS / "promotion_decision.json").read_text())
        report = (root / REPORTS / "monitoring/retrain.md").read_text()
        with server.client() as client:
            if promotion["promote"]:
                deadline = time.monotonic() + 60
                while client.get("/model").json()["version"] == before["version"]:
                    assert time.monotonic() < deadline, "the service kept the old version"
                    time.sleep(0.5)
                answer = client.post(
                    "/predict",
                    json={
                        "rows": [
                            {
                                "MedInc": 8.3,
                                "HouseAge": 41,
                                "AveRooms": 6.9,
                                "AveBedrms": 1.0,
                                "Population": 322,
                                "AveOccup": 2.5,
                                "Latitude": 37.88,
                                "Longitude": -122.23,
                            }
                        ]
                    },
                ).json()
                assert answer["model_version"] > before["version"]
                assert "promoted" in report
            else:  # the gate kept the champion: the report says why
                assert "kept the current champion" in report and promotion["reason"] in report
                assert client.get("/model").json()["version"] == before["version"]

    # a corrupted feedback row in the log: the retrain stops before writing anything
    with sqlite3.connect(server.db_path) as connection:
        connection.execute('UPDATE feedback SET "MedHouseVal" = -2.0 WHERE rowid = 1')
    files = _snapshot(root)
    failed = kedro_cli(
        root,
        *("run", "--env", "test", "--pipelines", "retrain", "--params", log_url),
        check=False,
        SERVING_API_KEY=API_KEY,
    )
    assert failed.returncode != 0
    assert "failed the raw schema" in failed.stderr and "'MedHouseVal'" in failed.stderr
    assert _snapshot(root) == files
