"""The benchmarks' reading of a ``kedro run`` log into phases (benchmarks/harness.py)."""

import logging
import time
from pathlib import Path

import pytest
import yaml

from benchmarks.__main__ import tuning_node_seconds
from benchmarks.harness import Measurement, kedro_phases, run_kedro, summarise
from tests.conftest import copy_project

PROJECT = Path(__file__).resolve().parents[1]


def _log(started_at: float, lines: list[tuple[float, str, str]]) -> str:
    """Lines as the project's log formats them: (seconds after the spawn, logger, message)."""
    config = yaml.safe_load((PROJECT / "conf" / "logging.yml").read_text())["formatters"]
    formatter = logging.Formatter(config["simple"]["format"], config["simple"]["datefmt"])
    records = []
    for after, name, message in lines:
        created = started_at + after
        fields = {"created": created, "msecs": (created % 1) * 1000, "levelname": "INFO"}
        records.append(logging.makeLogRecord(fields | {"name": name, "msg": message}))
    return "\n".join(formatter.format(record) for record in records)


RUN = [
    (4.0, "kedro.io.data_catalog", "Loading data from v1.train (ParquetDataset)..."),
    (4.1, "kedro.io.data_catalog", "Loading data from params:seed (MemoryDataset)..."),
    (4.3, "kedro.pipeline.node", "Running node: fit_model: fit_model([v1.train]) -> [m]"),
    (7.3, "kedro.io.data_catalog", "Saving data to v1.linear.regressor (CachedDataset)..."),
    (7.5, "kedro.runner.sequential_runner", "Completed node: v1.linear.fit_model"),
    (7.5, "kedro.runner.sequential_runner", "Completed 1 out of 2 tasks"),
    (7.6, "kedro.pipeline.node", "Running node: fit_model: fit_model(None) -> None"),
    (8.6, "kedro.runner.sequential_runner", "Completed node: v2.linear.fit_model"),
    (8.7, "kedro.runner.sequential_runner", "Pipeline execution completed successfully."),
]


def test_each_versions_tuning_node_is_timed_from_its_start_to_its_end():
    started_at = 1_790_000_000.25
    node = "kedro.pipeline.node"
    runner = "kedro.runner.sequential_runner"
    lines = [
        (5.0, node, "Running node: tune_hyperparameters: tune_hyperparameters([...]) -> [...]"),
        (14.5, runner, "Completed node: v3.xgboost_tuned.tune_hyperparameters"),
        (14.6, node, "Running node: fit_model: fit_model([v4.train]) -> [...]"),
        (15.0, runner, "Completed node: v4.xgboost.fit_model"),
        (15.1, node, "Running node: tune_hyperparameters: tune_hyperparameters([...]) -> [...]"),
        (40.1, runner, "Completed node: v4.xgboost_tuned.tune_hyperparameters"),
    ]
    run = Measurement(50.0, 0.0, _log(started_at, lines), started_at=started_at)

    assert tuning_node_seconds(run) == pytest.approx({"v3": 9.5, "v4": 25.0}, abs=2e-3)


def test_a_runs_wall_time_is_split_into_start_up_nodes_and_end():
    started_at = 1_790_000_000.25
    run = Measurement(10.0, 0.0, "noise\n" + _log(started_at, RUN), started_at=started_at)

    phases = kedro_phases(run)

    assert phases == pytest.approx(
        {
            "start_up": 4.0,
            "fit_model.inputs": 0.3,  # loads and before_node_run hooks
            "fit_model.function": 3.0 + 1.0,  # both namespaces
            "fit_model.outputs": 0.2,
            "between_nodes": 0.1,
            "end": 10.0 - 8.6,
        },
        abs=2e-3,  # the log keeps milliseconds
    )
    assert list(phases) == [
        "start_up",
        "fit_model.inputs",
        "fit_model.function",
        "fit_model.outputs",
        "between_nodes",
        "end",
    ]


def test_a_run_across_midnight_is_timed_from_its_spawn():
    started_at = time.mktime((2026, 12, 1, 23, 59, 59, 0, 0, -1)) + 0.5
    lines = [(1.5, "kedro.pipeline.node", "Running node: score: score(x) -> y")]
    run = Measurement(3.0, 0.0, _log(started_at, lines), started_at=started_at)

    assert _log(started_at, lines).startswith("00:00:01.000")
    assert kedro_phases(run)["start_up"] == pytest.approx(1.5, abs=2e-3)


def test_only_kedro_runs_get_phases():
    started_at = 1_790_000_000.0
    kedro = [Measurement(w, 1.0, _log(started_at, RUN), started_at=started_at) for w in (9, 10, 12)]
    bare = [Measurement(5.0, 1.0, '{"fit_eval_seconds": 3.0}', started_at=started_at)]

    assert kedro_phases(bare[0]) is None
    assert "median_phases_seconds" not in summarise(bare, "python bare.py")
    medians = summarise(kedro, "kedro run")["median_phases_seconds"]
    assert medians["end"] == pytest.approx(10.0 - 8.6, abs=2e-3)


@pytest.mark.slow  # one real `kedro run --env test --pipelines data_processing`: ~6 s
def test_the_phases_of_a_real_kedro_run_add_up_to_its_wall_time(tmp_path):
    root = copy_project(tmp_path / "project")

    run = run_kedro(root, ["--env", "test", "--pipelines", "data_processing"], "phases")

    phases = kedro_phases(run)
    assert phases is not None, run.stdout[-2000:]
    assert {"start_up", "validate_raw.function", "between_nodes", "end"} <= phases.keys()
    assert sum(phases.values()) == pytest.approx(run.wall_seconds, abs=0.05)
    assert all(seconds >= 0 for seconds in phases.values())
    assert phases["start_up"] > 1.0  # imports and configuration, at least
