"""``python -m benchmarks <target> [--repeat N]``: time a ``kedro run`` target, print JSON.

Each target is one function in :data:`TARGETS` that takes the repeat count and returns
the target's part of the result. Every target runs in a fresh copy of the project (see
:func:`benchmarks.harness.project_copy`); the stages a pipeline reads from are run once
first, untimed, and every timed run starts from the state they left. The JSON result goes
to stdout, progress to stderr; ``--save`` also writes it to ``benchmarks/results/<target>.json``,
which the docs' benchmark page renders (see :mod:`benchmarks.results`).
"""

from __future__ import annotations

import argparse
import collections
import csv
import hashlib
import io
import json
import os
import platform
import re
import shlex
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from benchmarks.harness import (
    LOG_LINE,
    PROJECT,
    PYTHON,
    BenchmarkError,
    Measurement,
    log,
    pipeline_exists,
    project_copy,
    restore_state,
    run_kedro,
    run_measured,
    save_state,
    summarise,
)
from benchmarks.monitoring import time_monitoring
from benchmarks.population import time_population
from benchmarks.results import provenance, save_result
from benchmarks.serving import time_serving

#: Stages whose outputs a pipeline reads, run (untimed, in order) before it is measured.
PREREQUISITES: dict[str, tuple[str, ...]] = {
    "data_science": ("data_processing",),
    "tuning": ("data_processing",),
    "reporting": ("data_processing", "data_science", "tuning"),
}

BARE_SCRIPT = Path(__file__).with_name("bare_data_science.py")
SEARCH_SCRIPT = Path(__file__).with_name("tuning_search.py")


def time_kedro(
    args: Sequence[str], repeat: int, prerequisites: Sequence[str] = ()
) -> dict[str, Any]:
    """Time ``kedro run <args>`` ``repeat`` times in one project copy.

    Args:
        args: Arguments after ``kedro run``.
        repeat: Number of timed runs.
        prerequisites: Pipelines run once first, untimed.

    Returns:
        ``{"kedro": ...}``, see :func:`benchmarks.harness.summarise`.
    """
    command = shlex.join(["kedro", "run", *args])
    with project_copy() as root:
        run_prerequisites(root, prerequisites)
        runs = []
        for i in range(repeat):
            restore_state(root)
            runs.append(run_kedro(root, args, f"kedro-{i}"))
            log(f"[{i + 1}/{repeat}] {command}: {runs[-1].wall_seconds:.1f} s")
    return {"kedro": summarise(runs, command)}


def run_prerequisites(root: Path, stages: Sequence[str]) -> None:
    """Run each stage once in the copy ``root``, then save the state every run starts from."""
    for stage in stages:
        log(f"prerequisite (untimed): kedro run --pipelines {stage}")
        run_kedro(root, ["--pipelines", stage], f"prerequisite-{stage}")
    save_state(root)


def time_pipeline(name: str, repeat: int) -> dict[str, Any]:
    """Time ``kedro run --pipelines <name>`` after its prerequisites."""
    if not pipeline_exists(name):
        raise BenchmarkError(f"Pipeline {name!r} does not exist (no pipelines/{name}/pipeline.py).")
    return time_kedro(["--pipelines", name], repeat, PREREQUISITES.get(name, ()))


def time_data_science(repeat: int) -> dict[str, Any]:
    """Time the data_science pipeline against a bare script doing the same fits.

    Kedro runs and bare runs alternate so that machine noise hits both alike. The bare
    script (:mod:`benchmarks.bare_data_science`) loads and prepares the data itself, so its
    whole-process wall is the fair counterpart of the ``kedro run`` wall.
    """
    args = ["--pipelines", "data_science"]
    kedro_runs: list[Measurement] = []
    bare_runs: list[Measurement] = []
    rmse_gaps: list[float] = []
    with project_copy() as root:
        run_prerequisites(root, PREREQUISITES["data_science"])
        for i in range(repeat):
            restore_state(root)
            kedro_runs.append(run_kedro(root, args, f"kedro-{i}"))
            bare = [str(PYTHON), str(BARE_SCRIPT), str(root / "conf" / "base")]
            bare_runs.append(run_measured(bare, root, f"bare-{i}"))
            rmse_gaps.append(rmse_gap(root, json.loads(bare_runs[-1].stdout)["metrics"]))
            log(
                f"[{i + 1}/{repeat}] kedro {kedro_runs[-1].wall_seconds:.1f} s, "
                f"bare {bare_runs[-1].wall_seconds:.1f} s"
            )
    fit_eval = [json.loads(run.stdout)["fit_eval_seconds"] for run in bare_runs]
    ratios = [k.wall_seconds / b.wall_seconds for k, b in zip(kedro_runs, bare_runs, strict=True)]
    return {
        "kedro": summarise(kedro_runs, shlex.join(["kedro", "run", *args])),
        "bare": summarise(bare_runs, "python benchmarks/bare_data_science.py conf/base")
        | {
            "fit_eval_seconds": [round(s, 3) for s in fit_eval],
            "median_fit_eval_seconds": round(statistics.median(fit_eval), 3),
            "max_abs_rmse_diff_vs_kedro": max(rmse_gaps),
        },
        "ratio_median": round(statistics.median(ratios), 3),
    }


def rmse_gap(root: Path, bare_metrics: dict[str, dict[str, float]]) -> float:
    """Largest |RMSE difference| between the bare script and the last kedro run.

    A sanity check that both fitted the same models: it should be 0 or close to it.
    """
    output = root / "data" / "07_model_output"
    gaps = []
    for candidate, scores in bare_metrics.items():
        version, model = candidate.split(".")
        kedro_metrics = json.loads((output / version / model / "metrics.json").read_text())
        gaps.append(abs(kedro_metrics["rmse"] - scores["rmse"]))
    return max(gaps)


#: Environment written into the project copy: the default tuning, one fold at a time, unpruned.
SEQUENTIAL_ENV = "sequential_unpruned"


def time_tuning(repeat: int) -> dict[str, Any]:
    """``kedro run --pipelines tuning`` on a fresh study, against its sequential unpruned twin.

    Both are the path users run (search, refit, evaluation, MLflow logging), alternating
    so that machine noise hits both alike. The twin is the same configuration in an
    environment written into the project copy, with ``parallel_folds: 1`` and Optuna's
    ``NopPruner``. After each run the best CV RMSE, the trials, the best parameters and the
    tuned model's test RMSE are read back, to check that every run of one configuration
    made the same search and the same model.
    """
    modes = {
        "default": ["--pipelines", "tuning"],
        "sequential_unpruned": ["--pipelines", "tuning", "--env", SEQUENTIAL_ENV],
    }
    runs: dict[str, list[Measurement]] = {mode: [] for mode in modes}
    outcomes: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    with project_copy() as root:
        write_sequential_env(root)
        run_prerequisites(root, PREREQUISITES["tuning"])
        for i in range(repeat):
            for mode, args in modes.items():
                restore_state(root)
                load = os.getloadavg()[0]
                runs[mode].append(run_kedro(root, args, f"{mode}-{i}"))
                outcomes[mode].append(tuning_outcome(root) | {"load_1m_at_start": round(load, 2)})
                log(
                    f"[{i + 1}/{repeat}] {mode}: {runs[mode][-1].wall_seconds:.1f} s, "
                    f"best CV {outcomes[mode][-1]['best_cv_rmse']:.5f}, "
                    f"trials {outcomes[mode][-1]['states']}"
                )
    result: dict[str, Any] = {}
    for mode, args in modes.items():
        walls = [run.wall_seconds for run in runs[mode]]
        result[mode] = summarise(runs[mode], shlex.join(["kedro", "run", *args])) | {
            "slowest_over_fastest": round(max(walls) / min(walls), 3),
            "load_1m_at_start": [o["load_1m_at_start"] for o in outcomes[mode]],
            "best_cv_rmse": [o["best_cv_rmse"] for o in outcomes[mode]],
            "test_rmse": [o["test_rmse"] for o in outcomes[mode]],
            "trial_states": outcomes[mode][0]["states"],
            "same_search_and_model_every_run": all(
                o["fingerprint"] == outcomes[mode][0]["fingerprint"] for o in outcomes[mode]
            ),
        }
    default, sequential = result["default"], result["sequential_unpruned"]
    default_cv = statistics.median(default["best_cv_rmse"])
    sequential_cv = statistics.median(sequential["best_cv_rmse"])
    return result | {
        "wall_ratio_median": round(
            default["median_wall_seconds"] / sequential["median_wall_seconds"], 3
        ),
        "best_cv_gap_percent": round(100 * (default_cv - sequential_cv) / sequential_cv, 3),
    }


def write_sequential_env(root: Path) -> None:
    """Write ``conf/<SEQUENTIAL_ENV>/parameters_tuning.yml``: the base tuning, unparallel."""
    base = root / "conf" / "base" / "parameters_tuning.yml"
    tuning = yaml.safe_load(base.read_text())["tuning"]
    tuning |= {"parallel_folds": 1, "pruner": {"type": "NopPruner"}}
    env = root / "conf" / SEQUENTIAL_ENV
    env.mkdir()
    (env / "parameters_tuning.yml").write_text(yaml.safe_dump({"tuning": tuning}))


def tuning_outcome(root: Path) -> dict[str, Any]:
    """What the last tuning run in ``root`` produced: its best CV, states, test RMSE.

    ``fingerprint`` hashes the trials (numbers, states, values, parameters), the best
    parameters and the tuned model's test predictions' metrics: equal fingerprints mean
    the same search and the same tuned model.
    """
    candidate = "v3/xgboost_tuned"
    best = json.loads((root / "data" / "06_models" / candidate / "best_params.json").read_text())
    trials = (root / "data" / "08_reporting" / "tuning" / candidate / "trials.csv").read_text()
    table = list(csv.reader(io.StringIO(trials)))
    header = table[0]
    keep = [i for i, name in enumerate(header) if not name.startswith(("datetime", "duration"))]
    trials_core = [[row[i] for i in keep] for row in table]
    metrics = json.loads(
        (root / "data" / "07_model_output" / candidate / "metrics.json").read_text()
    )
    states = collections.Counter(row[header.index("state")] for row in table[1:])
    blob = json.dumps([trials_core, best["params"], metrics["rmse"]], sort_keys=True)
    return {
        "best_cv_rmse": round(best["cv_rmse"], 5),
        "test_rmse": round(metrics["rmse"], 5),
        "states": dict(states),
        "fingerprint": hashlib.sha256(blob.encode()).hexdigest()[:12],
    }


def in_memory_search(root: Path, mode: str, version: str, label: str) -> dict[str, Any]:
    """Run :mod:`benchmarks.tuning_search` in a fresh process; its JSON result."""
    out = root / f"{label}.json"
    command = [str(PYTHON), str(SEARCH_SCRIPT), str(root / "conf" / "base"), mode, str(out)]
    run_measured([*command, version], root, label)
    return json.loads(out.read_text())


def tuned_versions(root: Path) -> list[str]:
    """The versions ``conf/base`` tunes (keys of ``tuning.versions``)."""
    tuning = yaml.safe_load((root / "conf" / "base" / "parameters_tuning.yml").read_text())
    return list(tuning["tuning"]["versions"])


def time_tuning_search(repeat: int) -> dict[str, Any]:
    """Time the configured search against the same trials run sequentially, unpruned.

    Both run :mod:`benchmarks.tuning_search` on the first tuned version in fresh processes,
    alternating. The test RMSE of the refit is printed for reporting only; no setting is
    chosen on it.
    """
    runs: dict[str, list[dict[str, Any]]] = {"default": [], "sequential": []}
    with project_copy() as root:
        version = tuned_versions(root)[0]
        for i in range(repeat):
            for mode, results in runs.items():
                results.append(in_memory_search(root, mode, version, f"search-{mode}-{i}"))
                log(f"[{i + 1}/{repeat}] {mode}: {results[-1]}")

    def median(mode: str, key: str) -> float:
        return round(statistics.median(r[key] for r in runs[mode]), 5)

    default_cv, sequential_cv = (
        median("default", "best_cv_rmse"),
        median("sequential", "best_cv_rmse"),
    )
    return {
        "runs": runs,
        "median_search_seconds": {mode: median(mode, "search_seconds") for mode in runs},
        "median_best_cv_rmse": {"default": default_cv, "sequential": sequential_cv},
        "cv_gap_percent": round(100 * (default_cv - sequential_cv) / sequential_cv, 3),
        "median_refit_test_rmse": {mode: median(mode, "refit_test_rmse") for mode in runs},
    }


def tuning_node_seconds(run: Measurement) -> dict[str, float]:
    """Seconds of each version's tuning node in one ``kedro run``, from start to end (its
    search and the saves of its outputs), read off the run's log."""
    started, seconds = 0.0, {}
    for line in run.stdout.splitlines():
        if not (match := LOG_LINE.match(line)):
            continue
        hours, minutes, secs, millis, message = match.groups()
        at = int(hours) * 3600 + int(minutes) * 60 + int(secs) + int(millis) / 1000
        if message.startswith("Running node: tune_hyperparameters"):
            started = at
        elif message.startswith("Completed node: ") and message.endswith(".tune_hyperparameters"):
            version = message.removeprefix("Completed node: ").split(".")[0]
            seconds[version] = round((at - started) % 86400, 3)
    return seconds


def time_tuning_node(repeat: int) -> dict[str, Any]:
    """Each tuning node of ``kedro run --pipelines tuning`` against the same search in memory.

    Per repeat, alternating: the real run (fresh Optuna studies in the configured SQLite
    storage, each trial an MLflow run), whose node times are read off its log; then, for each
    tuned version, the same search (same trials, folds, threads and pruner) on an in-memory
    study without tracking (:mod:`benchmarks.tuning_search`, ``default`` mode). Both make the
    same search: their best CV RMSEs are reported side by side.
    """
    runs: dict[str, dict[str, list[float]]] = {}
    with project_copy() as root:
        run_prerequisites(root, PREREQUISITES["tuning"])
        versions = tuned_versions(root)
        for i in range(repeat):
            restore_state(root)
            node = tuning_node_seconds(run_kedro(root, ["--pipelines", "tuning"], f"run-{i}"))
            for version in versions:
                found = in_memory_search(root, "default", version, f"search-{version}-{i}")
                best = root / "data" / "06_models" / version / "xgboost_tuned" / "best_params.json"
                figures = {
                    "node_seconds": node[version],
                    "in_memory_seconds": found["search_seconds"],
                    "node_best_cv_rmse": round(json.loads(best.read_text())["cv_rmse"], 5),
                    "in_memory_best_cv_rmse": found["best_cv_rmse"],
                }
                for name, value in figures.items():
                    runs.setdefault(version, {}).setdefault(name, []).append(value)
                log(f"[{i + 1}/{repeat}] {version}: {figures}")
    return {
        version: figures
        | {
            "median_ratio": round(
                statistics.median(
                    n / m
                    for n, m in zip(
                        figures["node_seconds"], figures["in_memory_seconds"], strict=True
                    )
                ),
                3,
            )
        }
        for version, figures in runs.items()
    }


def time_test_env(repeat: int) -> dict[str, Any]:
    """Time ``kedro run --env test`` (the whole default pipeline, test configuration)."""
    if not (PROJECT / "conf" / "test").is_dir():
        raise BenchmarkError("Environment 'test' does not exist (no conf/test/).")
    return time_kedro(["--env", "test"], repeat)


#: The quick tier's tests, and the tier as docs/testing.md gives it: on two workers (pytest-xdist).
QUICK_TESTS = ("-m", "not slow and not integration and not container")
QUICK_TIER = ("-n", "2", *QUICK_TESTS)


def time_quick_tests(repeat: int) -> dict[str, Any]:
    """Time the quick test tier as a developer runs it, against the same tests in one process.

    ``python -m pytest -n 2 -m "not slow and not integration and not container" -q`` in the
    repository itself, alternating with the same command without ``-n 2``, ``repeat``
    times each, after one untimed run (which fills pytest's cache, the migrated MLflow
    store, as a developer's first run does). Reports each process's wall and CPU time and
    the time pytest prints, which leaves out the interpreter's start-up and exit.
    """
    modes = {"two_workers": QUICK_TIER, "one_process": QUICK_TESTS}
    runs: dict[str, list[Measurement]] = {mode: [] for mode in modes}
    with tempfile.TemporaryDirectory(prefix="california-housing-bench-") as tmp:
        logs = Path(tmp)
        command = [str(PYTHON), "-m", "pytest", "-q"]
        run_measured([*command, *QUICK_TIER], PROJECT, "quick-tests-warm-up", logs)
        for i in range(repeat):
            for mode, args in modes.items():
                runs[mode].append(run_measured([*command, *args], PROJECT, f"{mode}-{i}", logs))
                log(f"[{i + 1}/{repeat}] {mode}: {runs[mode][-1].wall_seconds:.1f} s")
    result: dict[str, Any] = {}
    for mode, args in modes.items():
        reported = [pytest_seconds(run.stdout) for run in runs[mode]]
        result[mode] = summarise(runs[mode], shlex.join(["pytest", *args])) | {
            "pytest_reported_seconds": reported,
            "median_pytest_reported_seconds": round(statistics.median(reported), 2),
        }
    two, one = result["two_workers"], result["one_process"]
    return {
        "quick_tests": result,
        "wall_ratio_median": round(two["median_wall_seconds"] / one["median_wall_seconds"], 3),
    }


def pytest_seconds(output: str) -> float:
    """The duration on pytest's summary line, e.g. ``351 passed ... in 26.84s`` -> 26.84."""
    found = re.findall(r"^\d+ passed.* in ([0-9.]+)s", output, re.MULTILINE)
    if not found:
        raise BenchmarkError(f"No pytest summary in the output: {output[-300:]!r}")
    return float(found[-1])


#: Target name -> function of the repeat count. A new target is one function and one entry.
TARGETS: dict[str, Callable[[int], dict[str, Any]]] = {
    "data_processing": lambda repeat: time_pipeline("data_processing", repeat),
    "data_science": time_data_science,
    "tuning": time_tuning,
    "tuning_search": time_tuning_search,
    "tuning_node": time_tuning_node,
    "reporting": lambda repeat: time_pipeline("reporting", repeat),
    "default": lambda repeat: time_kedro([], repeat),
    "test_env": time_test_env,
    "serving": time_serving,
    "population": time_population,
    "monitoring": time_monitoring,
    "quick_tests": time_quick_tests,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run one target, print its JSON result.

    Returns:
        The exit code: 0, or 1 if the benchmark failed (its JSON then has ``error``).
    """
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (default: 3)")
    parser.add_argument(
        "--save",
        action="store_true",
        help="also write the result to benchmarks/results/<target>.json (the docs show it)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    result: dict[str, Any] = {"target": args.target, "repeat": args.repeat} | provenance()
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    try:
        result |= TARGETS[args.target](args.repeat)
    except BenchmarkError as exc:
        result["error"] = str(exc)
    machine["load_average_1m_end"] = round(os.getloadavg()[0], 2)
    result |= {"machine": machine}
    print(json.dumps(result, indent=2))
    if args.save and "error" not in result:
        log(f"saved {save_result(result)}")
    elif args.save:
        log("not saved: the benchmark failed, the last saved result stays")
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main())
