"""Markdown tables of the saved benchmark results, for the docs' benchmark page.

``docs/benchmarks.md`` holds one marker per target, ``<!-- benchmark: <target> -->``; the
MkDocs hook ``docs/hooks/benchmark_results.py`` replaces each with :func:`render_target` of
that target's saved result (:mod:`benchmarks.results`) at build time, so the page shows what
the JSON files hold. ``python -m benchmarks.render`` prints the page as it would be built.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.monitoring import PREDICTIONS
from benchmarks.results import load_result, result_path

MARKER = re.compile(r"<!--\s*benchmark:\s*([A-Za-z0-9_]+)\s*-->")
PAGE = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
#: Phases of a ``kedro run`` shown by name; the rest are added up in one row.
TOP_PHASES = 8

Lines = list[str]


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _each(values: Iterable[float | None], digits: int = 1) -> str:
    return ", ".join(_num(v, digits) for v in values)


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Lines:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return [*lines, ""]


def _runs(summaries: Sequence[tuple[str, dict[str, Any]]]) -> Lines:
    """One row per measured command: its walls, CPU times and peak memory."""
    return _table(
        ["what ran", "command", "median wall s", "wall s per run", "CPU s per run", "peak RSS MB"],
        (
            (
                label,
                f"`{s['command']}`",
                f"**{_num(s['median_wall_seconds'])}**",
                _each(s["wall_seconds"]),
                _each(s.get("cpu_seconds", [])) or "-",
                _num(s["median_peak_rss_mb"], 0),
            )
            for label, s in summaries
        ),
    )


def _phases(summary: dict[str, Any]) -> Lines:
    """The largest phases of a ``kedro run``, read off its log (median over the runs)."""
    phases = summary.get("median_phases_seconds")
    if not phases:
        return []
    ranked = sorted(phases.items(), key=lambda item: item[1], reverse=True)
    shown, rest = ranked[:TOP_PHASES], ranked[TOP_PHASES:]
    rows = [(f"`{name}`", _num(seconds, 2)) for name, seconds in shown]
    if rest:
        rows.append((f"the other {len(rest)} phases", _num(sum(s for _, s in rest), 2)))
    return [
        "Where the time of `" + summary["command"] + "` went (median seconds per phase, from the "
        "run's own log; a node's phases add up its namespaces):",
        "",
        *_table(["phase", "median s"], rows),
    ]


def _kedro_run(result: dict[str, Any]) -> Lines:
    return _runs([("kedro run", result["kedro"])]) + _phases(result["kedro"])


def _data_science(result: dict[str, Any]) -> Lines:
    bare = result["bare"]
    return [
        *_runs([("Kedro", result["kedro"]), ("bare script", bare)]),
        f"- Kedro over the bare script, median of the per-pair wall ratios: "
        f"**{_num(result['ratio_median'], 2)}**",
        f"- the bare script's fits and scores alone: {_num(bare['median_fit_eval_seconds'])} s "
        "(median)",
        f"- largest RMSE difference between the two sides' models: "
        f"{bare['max_abs_rmse_diff_vs_kedro']:.2g}",
        "",
        *_phases(result["kedro"]),
    ]


def _tuning(result: dict[str, Any]) -> Lines:
    modes = [("default", "configured"), ("sequential_unpruned", "sequential, unpruned")]
    rows = []
    for key, label in modes:
        mode = result[key]
        states = ", ".join(f"{n} {state.lower()}" for state, n in mode["trial_states"].items())
        rows.append(
            (
                label,
                _each(mode["best_cv_rmse"], 5),
                _each(mode["test_rmse"], 5),
                states,
                "yes" if mode["same_search_and_model_every_run"] else "**no**",
                _num(mode["slowest_over_fastest"], 2),
                _each(mode["load_1m_at_start"], 2),
            )
        )
    return [
        *_runs([(label, result[key]) for key, label in modes]),
        *_table(
            [
                "search",
                "best CV RMSE per run",
                "tuned test RMSE per run",
                "trials",
                "same search and model every run",
                "slowest / fastest",
                "load (1 min) at each start",
            ],
            rows,
        ),
        f"- configured over sequential, median wall: **{_num(result['wall_ratio_median'], 2)}**",
        f"- best CV RMSE, configured against sequential: {result['best_cv_gap_percent']:+.2f} %",
        "",
    ]


def _tuning_search(result: dict[str, Any]) -> Lines:
    rows = []
    for mode, runs in result["runs"].items():
        first = runs[0]
        trials = ", ".join(f"{n} {state.lower()}" for state, n in first["trials"].items())
        rows.append(
            (
                mode,
                f"{first['version']} ({first['train_rows']:,} train rows)",
                f"**{_num(result['median_search_seconds'][mode])}**",
                _each(r["search_seconds"] for r in runs),
                _num(result["median_best_cv_rmse"][mode], 5),
                _num(result["median_refit_test_rmse"][mode], 5),
                trials,
            )
        )
    header = [
        "search",
        "version",
        "median search s",
        "search s per run",
        "median best CV RMSE",
        "median refit test RMSE",
        "trials (first run)",
    ]
    return [
        *_table(header, rows),
        f"- best CV RMSE, configured against sequential: {result['cv_gap_percent']:+.2f} %",
        "",
    ]


def _tuning_node(result: dict[str, Any]) -> Lines:
    versions = {k: v for k, v in result.items() if isinstance(v, dict) and "median_ratio" in v}
    rows = (
        (
            f"`{version}`",
            _each(v["node_seconds"]),
            _each(v["in_memory_seconds"]),
            f"**{_num(v['median_ratio'], 2)}**",
            _each(v["node_best_cv_rmse"], 5),
            _each(v["in_memory_best_cv_rmse"], 5),
        )
        for version, v in versions.items()
    )
    header = [
        "version",
        "tuning node s per run",
        "same search in memory s per run",
        "median ratio node / in memory",
        "node's best CV RMSE",
        "in memory best CV RMSE",
    ]
    return _table(header, rows)


_SERVING_ROWS = (
    ("single row, 1 connection: p50 ms", "single_row_p50_ms", 2, None),
    ("single row, 1 connection: p99 ms", "single_row_p99_ms", 2, None),
    ("single row, 16 connections: requests/s", "requests_per_second_16_connections", 0, None),
    (
        "server CPU ms per request (16 connections)",
        "server_cpu_ms_per_request_16_connections",
        2,
        "cpu_per_request_ratio",
    ),
    ("1,000-row batch, 1 connection: p50 ms", "batch_1000_rows_p50_ms", 1, None),
    ("server CPU ms per 1,000-row batch", "server_cpu_ms_per_1000_row_batch", 1, None),
    ("peak RSS MB", "peak_rss_mb", 0, None),
    ("answers other than 2xx", "non_2xx", 0, None),
)


def _serving(result: dict[str, Any]) -> Lines:
    ours, theirs = result["kedro_serve"], result["mlflow_models_serve"]
    ratios = {"requests_per_second_16_connections": "throughput_ratio"}
    rows = []
    for label, key, digits, ratio in _SERVING_ROWS:
        ratio_key = ratio or ratios.get(key)
        shown = f"**{_num(result[ratio_key], 2)}x**" if ratio_key in result else ""
        rows.append((label, _num(ours.get(key), digits), _num(theirs.get(key), digits), shown))
    lines = _table(["measurement", "`kedro serve`", "`mlflow models serve`", "ratio"], rows)
    if "rows_answered" in ours:
        lines += [
            f"- rows answered 200 by `kedro serve`: {ours['rows_answered']:,}; in its prediction "
            f"log at the end: {ours['rows_logged']:,}",
        ]
    lines += [f"- load generator: {result['load_generator']}", ""]
    return lines


def _filters(filters: dict[str, dict[str, float]]) -> str:
    """``{"Longitude": {"lt": -119.0}}`` -> ``Longitude lt -119.0``, as the service words them."""
    return ", ".join(
        f"`{column} {op} {value}`" for column, ops in filters.items() for op, value in ops.items()
    )


def _population(result: dict[str, Any]) -> Lines:
    champion = result["champion"]
    rows = [
        (
            f"`{name}`",
            _filters(domain["filters"]),
            f"{domain['rows']:,}",
            _num(domain["rmse"], 4),
            f"{domain['outside_rows']:,}",
            _num(domain["outside_rmse"], 4),
        )
        for name, domain in result["domains"].items()
    ]
    return [
        *_table(
            ["measurement", "value"],
            [
                ("population", result["population"]),
                ("test rows sent through `POST /predict`", f"{result['rows']:,}"),
                (
                    "champion",
                    f"version {champion['version']}: `{champion['candidate']}` "
                    f"(data version `{champion['data_version']}`)",
                ),
                ("RMSE the gate saw at promotion", _num(champion.get("population_rmse"), 4)),
                ("**RMSE of the served answers**", f"**{_num(result['served_rmse'], 4)}**"),
                ("share flagged out of domain", f"{100 * result['out_of_domain_share']:.2f} %"),
                (
                    "largest difference from `mlflow models serve`",
                    f"{result['mlflow_models_serve_max_abs_difference']:.2g}",
                ),
            ],
        ),
        "The same answers inside and outside each filtered version's domain:",
        "",
        *_table(
            ["version", "filters", "rows inside", "RMSE inside", "rows outside", "RMSE outside"],
            rows,
        ),
    ]


def _monitoring(result: dict[str, Any]) -> Lines:
    targets = result.get("targets", {})
    return [
        *_runs([("monitoring", result["kedro"])]),
        *_table(
            ["measurement", "median", "per run", "target"],
            [
                (
                    "the pipeline itself (Kedro's own figure), s",
                    f"**{_num(result['median_pipeline_seconds'])}**",
                    _each(result["pipeline_seconds"]),
                    _num(targets.get("pipeline_seconds"), 0),
                ),
                (
                    "start-up and exit (wall minus pipeline), s",
                    _num(result["median_startup_seconds"]),
                    "",
                    "",
                ),
                (
                    "peak RSS, MB",
                    _num(result["kedro"]["median_peak_rss_mb"], 0),
                    _each(result["kedro"]["peak_rss_mb"], 0),
                    _num(targets.get("peak_rss_mb"), 0),
                ),
            ],
        ),
        f"- log read: {result['log']['predictions']:,} predictions, "
        f"{result['log']['feedback']:,} with feedback; decision status "
        f"`{result['decision_status']}`",
        "",
    ]


def _quick_tests(result: dict[str, Any]) -> Lines:
    modes = result["quick_tests"]
    labels = {"two_workers": "two workers", "one_process": "one process"}
    reported = (
        (labels.get(mode, mode), _num(s["median_pytest_reported_seconds"]))
        for mode, s in modes.items()
    )
    return [
        *_runs([(labels.get(mode, mode), s) for mode, s in modes.items()]),
        *_table(["tests", "pytest's own median s"], reported),
        f"- two workers over one process, median wall: **{_num(result['wall_ratio_median'], 2)}**",
        "",
    ]


#: Target -> the tables of its result. Every target of ``python -m benchmarks`` has one.
RENDERERS: dict[str, Callable[[dict[str, Any]], Lines]] = {
    "data_processing": _kedro_run,
    "data_science": _data_science,
    "tuning": _tuning,
    "tuning_search": _tuning_search,
    "tuning_node": _tuning_node,
    "reporting": _kedro_run,
    "default": _kedro_run,
    "test_env": _kedro_run,
    "serving": _serving,
    "population": _population,
    "monitoring": _monitoring,
    "quick_tests": _quick_tests,
}


#: Targets that take no ``--repeat`` (one pass).
ONE_PASS = frozenset({"population"})


def _command(target: str, repeat: int | None = None, rows: int | None = None) -> str:
    repeat_arg = f" --repeat {repeat}" if repeat and target not in ONE_PASS else ""
    rows_arg = f" --rows {rows}" if rows else ""
    return f"`python -m benchmarks {target}{repeat_arg}{rows_arg} --save`"


def _about(result: dict[str, Any]) -> str:
    """One line: when, on which commit, on what machine, under which load."""
    parts = []
    if measured := result.get("measured_at"):
        parts.append(f"measured {measured.replace('T', ' ').replace('+00:00', ' UTC')}")
    if commit := result.get("git_commit"):
        dirty = " with uncommitted changes" if result.get("git_dirty") else ""
        parts.append(f"commit `{commit}`{dirty}")
    machine = result.get("machine", {})
    if "cpus" in machine:
        parts.append(f"{machine['cpus']} CPUs")
    if "python" in machine:
        parts.append(f"Python {machine['python']}")
    if "load_average_1m" in machine:
        load = f"load average (1 min) {machine['load_average_1m']:.2f} at the start"
        if "load_average_1m_end" in machine:
            load += f", {machine['load_average_1m_end']:.2f} at the end"
        parts.append(load)
    if uptime := result.get("uptime"):
        parts.append(f"`uptime` at the end: {uptime}")
    return "; ".join(parts)


def render_target(target: str, result: dict[str, Any] | None, folder: Path | None = None) -> str:
    """The Markdown for one target: its saved result's tables, or how to produce one.

    Args:
        target: A target of ``python -m benchmarks``.
        result: Its saved result (:func:`benchmarks.results.load_result`), or None.
        folder: Where results are kept (named in the text when there is none); default
            :data:`benchmarks.results.RESULTS`.

    Returns:
        Markdown: the machine and command line, then the target's tables.

    Raises:
        ValueError: If the target is unknown or its result lacks a figure its tables need.
    """
    if target not in RENDERERS:
        raise ValueError(f"unknown benchmark target {target!r}; known: {sorted(RENDERERS)}")
    try:
        shown = result_path(target, folder).relative_to(PAGE.parents[1])
    except ValueError:
        shown = result_path(target, folder)
    if result is None:
        return (
            f'!!! note "No saved result"\n    `{shown}` does not exist yet: '
            f"{_command(target, 3)} measures it and writes it.\n"
        )
    rows = result.get("log", {}).get("predictions") if target == "monitoring" else None
    rows = None if rows == PREDICTIONS else rows  # the default needs no --rows
    command = _command(target, result.get("repeat"), rows)
    head = [f"*{_about(result)}. Produced by {command}.*", ""]
    if "error" in result:
        failure = f'!!! failure "The saved run failed"\n    {result["error"]}'
        return "\n".join([*head, failure, ""])
    try:
        body = RENDERERS[target](result)
    except (KeyError, TypeError, IndexError) as exc:
        raise ValueError(f"{shown}: not the shape of a {target!r} result ({exc!r})") from exc
    return "\n".join([*head, *body])


def render_page(markdown: str, folder: Path | None = None) -> str:
    """Replace every ``<!-- benchmark: <target> -->`` marker with that target's tables."""
    return MARKER.sub(lambda m: render_target(m[1], load_result(m[1], folder), folder), markdown)


if __name__ == "__main__":
    sys.stdout.write(render_page(PAGE.read_text(encoding="utf-8")))
