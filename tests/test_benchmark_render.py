"""Saved benchmark results and their tables on the docs' benchmark page.

``tests/benchmark_samples/`` holds two real results of ``python -m benchmarks`` (``default``
and ``serving``, measured on an earlier version of the project): samples of the JSON shapes,
not current figures. The other targets' shapes are built below from what each target
returns (see ``benchmarks/__main__.py`` and its modules).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from benchmarks import results
from benchmarks.__main__ import TARGETS, main
from benchmarks.harness import BenchmarkError, Measurement, summarise
from benchmarks.render import MARKER, PAGE, RENDERERS, render_page, render_target

SAMPLES = Path(__file__).with_name("benchmark_samples")


def _sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{name}.json").read_text())


def _summary(command: str, walls: list[float]) -> dict[str, Any]:
    runs = [Measurement(w, 400.0 + i, "", cpu_seconds=w * 0.8) for i, w in enumerate(walls)]
    return summarise(runs, command)


MACHINE = {"cpus": 2, "python": "3.11.7", "load_average_1m": 0.5, "load_average_1m_end": 1.25}


def _shape(target: str) -> dict[str, Any]:
    """A result of ``target`` with the keys its function returns (figures made up)."""
    kedro = {"kedro": _summary(f"kedro run --pipelines {target}", [4.0, 5.0, 6.0])}
    search = {
        "mode": "default",
        "version": "v3",
        "search_space": "focused",
        "train_rows": 7441,
        "search_seconds": 30.0,
        "best_cv_rmse": 0.41,
        "trials": {"COMPLETE": 18, "PRUNED": 2},
        "refit_test_rmse": 0.40,
    }
    tuning_mode = {
        "slowest_over_fastest": 1.1,
        "load_1m_at_start": [0.5, 0.7],
        "best_cv_rmse": [0.41, 0.41],
        "test_rmse": [0.4, 0.4],
        "trial_states": {"COMPLETE": 47, "PRUNED": 3},
        "same_search_and_model_every_run": True,
    }
    serving_side = {
        "single_row_p50_ms": 1.0,
        "single_row_p99_ms": 3.0,
        "requests_per_second_16_connections": 1000.0,
        "batch_1000_rows_p50_ms": 15.0,
        "server_cpu_ms_per_request_16_connections": 1.0,
        "server_cpu_ms_per_1000_row_batch": 20.0,
        "non_2xx": 0,
        "peak_rss_mb": 400.0,
    }
    shapes: dict[str, dict[str, Any]] = {
        "data_processing": kedro,
        "reporting": kedro,
        "default": kedro,
        "test_env": kedro,
        "data_science": kedro
        | {
            "bare": _summary("python benchmarks/bare_data_science.py conf/base", [3.0, 3.5])
            | {"median_fit_eval_seconds": 2.5, "max_abs_rmse_diff_vs_kedro": 0.0},
            "ratio_median": 1.45,
        },
        "tuning": {
            "default": _summary("kedro run --pipelines tuning", [40.0, 42.0]) | tuning_mode,
            "sequential_unpruned": _summary("kedro run --pipelines tuning --env s", [90.0, 95.0])
            | tuning_mode,
            "wall_ratio_median": 0.44,
            "best_cv_gap_percent": 0.3,
        },
        "tuning_search": {
            "runs": {"default": [search], "sequential": [search | {"mode": "sequential"}]},
            "median_search_seconds": {"default": 30.0, "sequential": 60.0},
            "median_best_cv_rmse": {"default": 0.41, "sequential": 0.409},
            "cv_gap_percent": 0.2,
            "median_refit_test_rmse": {"default": 0.40, "sequential": 0.40},
        },
        "tuning_node": {
            "v3": {
                "node_seconds": [43.0],
                "in_memory_seconds": [34.4],
                "node_best_cv_rmse": [0.41],
                "in_memory_best_cv_rmse": [0.41],
                "median_ratio": 1.25,
            }
        },
        "serving": {
            "kedro_serve": serving_side | {"rows_answered": 10, "rows_logged": 10},
            "mlflow_models_serve": serving_side | {"requests_per_second_16_connections": 125.0},
            "throughput_ratio": 8.0,
            "cpu_per_request_ratio": 9.0,
            "load_generator": "wrk -t1",
            "uptime": "up 1 day, load average: 0.50, 0.40, 0.30",
        },
        "population": {
            "population": "the whole state",
            "rows": 4128,
            "champion": {
                "version": 2,
                "candidate": "v4.xgboost_tuned",
                "data_version": "v4",
                "population_rmse": 0.39,
            },
            "served_rmse": 0.3901,
            "out_of_domain_share": 0.0,
            "domains": {
                "v2": {
                    "filters": {"MedHouseVal": {"le": 5.0}, "Longitude": {"lt": -119.0}},
                    "rows": 1820,
                    "rmse": 0.37,
                    "outside_rows": 2308,
                    "outside_rmse": 0.41,
                }
            },
            "mlflow_models_serve_max_abs_difference": 0.0,
        },
        "monitoring": {
            "log": {"predictions": 100_000, "feedback": 10_000},
            "kedro": _summary("kedro run --env test --pipelines monitoring", [15.0]),
            "pipeline_seconds": [6.1],
            "median_pipeline_seconds": 6.1,
            "median_startup_seconds": 8.9,
            "targets": {"pipeline_seconds": 10, "peak_rss_mb": 1024},
            "decision_status": "ok",
        },
        "quick_tests": {
            "quick_tests": {
                "two_workers": _summary("pytest -n 2", [26.0])
                | {"median_pytest_reported_seconds": 24.9},
                "one_process": _summary("pytest", [38.0])
                | {"median_pytest_reported_seconds": 35.2},
            },
            "wall_ratio_median": 0.69,
        },
    }
    return {"target": target, "repeat": 3, **shapes[target], "machine": MACHINE}


def test_every_target_has_tables_and_a_place_on_the_page():
    assert set(RENDERERS) == set(TARGETS)
    markers = MARKER.findall(PAGE.read_text())
    assert sorted(markers) == sorted(TARGETS), "one marker per target in docs/benchmarks.md"


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_each_target_renders_its_shape(target):
    text = render_target(target, _shape(target))
    assert re.search(r"^\|---\|", text, re.MULTILINE), "at least one table"
    assert "2 CPUs" in text
    assert "load average (1 min) 0.50 at the start, 1.25 at the end" in text
    repeat = "" if target == "population" else " --repeat 3"
    assert f"`python -m benchmarks {target}{repeat} --save`" in text


def test_a_real_default_result_shows_its_medians_phases_and_machine():
    text = render_target("default", _sample("default"))
    row = next(line for line in text.splitlines() if line.startswith("| kedro run |"))
    assert "`kedro run`" in row
    assert "**61.9**" in row
    assert "61.5, 61.9, 68.3" in row
    assert "| 633 |" in row
    assert "load average (1 min) 0.60 at the start" in text
    phases = [line for line in text.splitlines() if line.startswith("| `")]
    assert phases[0] == "| `tune_hyperparameters.function` | 34.08 |"
    assert phases[1] == "| `fit_model.function` | 12.91 |"
    assert re.search(r"^\| the other \d+ phases \|", text, re.MULTILINE)


def test_a_real_serving_result_shows_both_servers_and_the_ratios():
    text = render_target("serving", _sample("serving"))
    throughput = next(line for line in text.splitlines() if "16 connections: requests/s" in line)
    assert throughput.split(" | ")[1:] == ["1,042", "127", "**8.23x** |"]
    cpu = next(line for line in text.splitlines() if "CPU ms per request" in line)
    assert cpu.endswith("| **9.19x** |")
    latency = next(line for line in text.splitlines() if "p50 ms" in line)
    assert latency.endswith("|  |"), "no ratio where the target computes none"
    assert "load average: 2.45, 1.45, 0.69" in text


def test_population_names_the_domains_as_the_service_does():
    text = render_target("population", _shape("population"))
    row = next(line for line in text.splitlines() if line.startswith("| `v2` |"))
    assert row.split(" | ")[1] == "`MedHouseVal le 5.0`, `Longitude lt -119.0`"
    assert "| **RMSE of the served answers** | **0.3901** |" in text


def test_a_missing_result_names_the_command_that_makes_it(tmp_path):
    text = render_target("tuning", results.load_result("tuning", tmp_path), tmp_path)
    assert "No saved result" in text
    assert "`python -m benchmarks tuning --repeat 3 --save`" in text
    assert "|---|" not in text


def test_a_failed_run_shows_its_error():
    failed = {"target": "serving", "repeat": 1, "error": "wrk is not installed", "machine": MACHINE}
    text = render_target("serving", failed)
    assert "The saved run failed" in text
    assert "wrk is not installed" in text


def test_a_result_of_the_wrong_shape_fails_naming_its_file():
    broken = _shape("tuning")
    del broken["wall_ratio_median"]
    with pytest.raises(ValueError, match=r"tuning\.json.*'wall_ratio_median'"):
        render_target("tuning", broken)


def test_the_page_renders_saved_results_and_refuses_unknown_targets(tmp_path):
    results.save_result(_shape("test_env"), tmp_path)
    page = "# B\n\n<!-- benchmark: test_env -->\n\n<!-- benchmark: default -->\n"
    text = render_page(page, tmp_path)
    assert "<!--" not in text
    assert "`kedro run --pipelines test_env`" in text
    assert "`python -m benchmarks default --repeat 3 --save` measures it" in text
    with pytest.raises(ValueError, match="unknown benchmark target 'nope'"):
        render_page("<!-- benchmark: nope -->", tmp_path)


def test_a_saved_result_is_read_back_only_as_its_own_target(tmp_path):
    path = results.save_result(_shape("reporting"), tmp_path)
    assert path == tmp_path / "reporting.json"
    assert results.load_result("reporting", tmp_path) == _shape("reporting")
    path.rename(tmp_path / "default.json")
    with pytest.raises(ValueError, match="does not hold a result of target 'default'"):
        results.load_result("default", tmp_path)


def test_the_results_kept_in_the_repository_render():
    for target in TARGETS:
        saved = results.load_result(target)
        if saved is not None:
            assert "|---|" in render_target(target, saved)


def test_save_writes_the_result_with_its_provenance_and_keeps_it_on_failure(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(results, "RESULTS", tmp_path)
    monkeypatch.setitem(TARGETS, "reporting", lambda repeat: _shape("reporting") | {"x": repeat})
    assert main(["reporting", "--repeat", "2", "--save"]) == 0
    saved = json.loads((tmp_path / "reporting.json").read_text())
    assert saved == json.loads(capsys.readouterr().out)
    assert saved["x"] == 2
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", saved["measured_at"])
    assert {"git_commit", "git_dirty"} <= saved.keys()
    assert {"load_average_1m", "load_average_1m_end", "cpus"} <= saved["machine"].keys()

    def fail(repeat: int) -> dict[str, Any]:
        raise BenchmarkError("no pipeline")

    monkeypatch.setitem(TARGETS, "reporting", fail)
    assert main(["reporting", "--repeat", "1", "--save"]) == 1
    assert json.loads((tmp_path / "reporting.json").read_text()) == saved
