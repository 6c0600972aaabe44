"""Running commands in a throw-away copy of the project and measuring them."""

from __future__ import annotations

import collections
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = PROJECT / "src" / "california_housing"
KEDRO = Path(sys.executable).with_name("kedro")  # the venv's kedro, next to its python
PYTHON = Path(sys.executable)
#: What runs write in a project copy (the Optuna study lives under data/).
RUN_STATE = ("data", "mlflow.db", "mlartifacts")


class BenchmarkError(RuntimeError):
    """A benchmark cannot run or one of its commands failed."""


@dataclass(frozen=True)
class Measurement:
    """One finished subprocess.

    Attributes:
        wall_seconds: From spawning the process to reaping it.
        peak_rss_mb: Peak resident set size of the process (or of the largest
            descendant it waited for), from ``wait4``'s ``ru_maxrss``.
        stdout: What the process printed on stdout.
        cpu_seconds: User plus system CPU time of the process and the descendants it
            waited for. The same work takes about the same CPU time on a loaded machine,
            where its wall time grows: it tells the machine's noise from the work's.
        started_at: Wall-clock time of the spawn (seconds since the epoch), which places
            the process's log lines (:func:`kedro_phases`).
    """

    wall_seconds: float
    peak_rss_mb: float
    stdout: str
    cpu_seconds: float = 0.0
    started_at: float = 0.0


def log(message: str) -> None:
    """Print progress for humans on stderr (stdout carries the JSON result)."""
    print(f"[benchmarks] {message}", file=sys.stderr, flush=True)


def child_env() -> dict[str, str]:
    """Environment of every measured command: telemetry off, data cache located, and the
    interpreter's scripts first on PATH, as in an activated virtualenv (``mlflow models
    serve`` starts ``uvicorn`` by name)."""
    env = dict(os.environ)
    env |= {
        "KEDRO_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PATH": os.pathsep.join([str(PYTHON.parent), env.get("PATH", "")]),
    }
    env.setdefault(
        "SCIKIT_LEARN_DATA",
        str((PROJECT / ".." / "shared" / "data" / "scikit_learn_data").resolve()),
    )
    return env


def pipeline_exists(name: str) -> bool:
    """Whether the project defines pipeline ``name`` (``pipelines/<name>/pipeline.py``)."""
    return (PACKAGE_DIR / "pipelines" / name / "pipeline.py").is_file()


@contextmanager
def project_copy() -> Iterator[Path]:
    """A temporary copy of the project: conf/, pyproject.toml, src/ and empty data layers.

    The copy's ``src/`` holds a link to the package, which Kedro requires inside the project
    root: the code that runs is the installed (editable) package, imported by the project's
    ``kedro.init`` entry point before Kedro puts ``src/`` on the path, and the link keeps
    ``settings.warn_if_not_running_src`` quiet. The MLflow store is created before anything
    is timed, so no run pays for the one-off database migration.

    Yields:
        The copy's root; removed on exit.
    """
    with tempfile.TemporaryDirectory(prefix="california-housing-bench-") as tmp:
        root = Path(tmp)
        shutil.copytree(PROJECT / "conf", root / "conf")
        shutil.copy2(PROJECT / "pyproject.toml", root)
        (root / "src").mkdir()
        (root / "src" / PACKAGE_DIR.name).symlink_to(PACKAGE_DIR, target_is_directory=True)
        for layer in (PROJECT / "data").iterdir():
            if layer.is_dir():
                (root / "data" / layer.name).mkdir(parents=True)
        # Same URI as conf/base/mlflow.yml resolves to in the copy.
        init = "import mlflow,sys; mlflow.MlflowClient(sys.argv[1]).search_experiments()"
        run_measured([str(PYTHON), "-c", init, f"sqlite:///{root}/mlflow.db"], root, "mlflow-init")
        yield root


def save_state(root: Path) -> None:
    """Keep a copy of the run state of ``root`` for :func:`restore_state`."""
    for name in RUN_STATE:
        _copy(root / name, root / ".saved-state" / name)


def restore_state(root: Path) -> None:
    """Put back the state saved by :func:`save_state`.

    Every timed run starts from the same state: a rerun would otherwise resume the
    Optuna study (finding its trials done), meet an existing champion, and so on.
    """
    for name in RUN_STATE:
        target = root / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
        _copy(root / ".saved-state" / name, target)


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target)
    elif source.exists():
        shutil.copy2(source, target)


def run_measured(
    command: Sequence[str], cwd: Path, label: str, logs: Path | None = None
) -> Measurement:
    """Run ``command`` to completion and measure its wall time and peak RSS.

    Args:
        command: Program and arguments.
        cwd: Working directory (a project copy).
        label: Names the log files.
        logs: Folder that keeps the output (default: ``cwd/logs``).

    Returns:
        The measurement.

    Raises:
        BenchmarkError: If the command exits non-zero, with the end of its stderr.
    """
    logs = logs or cwd / "logs"
    logs.mkdir(exist_ok=True)
    out_path, err_path = logs / f"{label}.out", logs / f"{label}.err"
    with out_path.open("w") as out, err_path.open("w") as err:
        started_at, started = time.time(), time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=child_env(), stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)  # rusage of this one child
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        tail = "\n".join(err_path.read_text(errors="replace").splitlines()[-15:])
        raise BenchmarkError(f"`{shlex.join(command)}` exited with {process.returncode}:\n{tail}")
    return Measurement(
        wall,
        usage.ru_maxrss / 1024,  # KiB on Linux
        out_path.read_text(),
        usage.ru_utime + usage.ru_stime,
        started_at,
    )


def run_kedro(root: Path, args: Sequence[str], label: str) -> Measurement:
    """``kedro run <args>`` in the project copy ``root``, measured."""
    return run_measured([str(KEDRO), "run", *args], root, label)


def summarise(runs: Sequence[Measurement], command: str) -> dict[str, Any]:
    """Per-run walls and peaks, with their medians, as JSON-ready values.

    For ``kedro run`` commands, also the median of each phase (:func:`kedro_phases`).
    """
    summary = {
        "wall_seconds": [round(run.wall_seconds, 3) for run in runs],
        "peak_rss_mb": [round(run.peak_rss_mb, 1) for run in runs],
        "cpu_seconds": [round(run.cpu_seconds, 1) for run in runs],
        "median_wall_seconds": round(statistics.median(r.wall_seconds for r in runs), 3),
        "median_peak_rss_mb": round(statistics.median(r.peak_rss_mb for r in runs), 1),
        "command": command,
    }
    phases = [kedro_phases(run) for run in runs]
    if runs and all(phases):
        names = [name for name in phases[0] if all(name in p for p in phases)]
        medians = {name: round(statistics.median(p[name] for p in phases), 3) for name in names}
        summary["median_phases_seconds"] = medians
    return summary


#: A line of the project's log (conf/logging.yml): "HH:MM:SS.mmm LEVEL logger: message".
LOG_LINE = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) +\S+ +\S+: (.*)$")


def kedro_phases(run: Measurement) -> dict[str, float] | None:
    """Where one ``kedro run``'s wall time went, read off its log; None without one.

    The project's log stamps lines to the millisecond, and Kedro logs every dataset load,
    the start of every node, every save and the end of every node. The phases:

    - ``start_up``: from the spawn to the first node's first load (imports, configuration,
      the hooks before the pipeline, such as opening the MLflow run);
    - ``<node>.inputs``: from a node's first load to its start (loads, ``before_node_run``
      hooks), ``<node>.function`` to its first save (its function, ``after_node_run``
      hooks), ``<node>.outputs`` to its end (the saves, and what datasets log as they
      save); ``<node>`` is the node's name without namespace, summed over namespaces;
    - ``between_nodes``;
    - ``end``: from the last node's end to the exit (the hooks after the pipeline, such
      as ending the MLflow run, and the interpreter's exit).

    Args:
        run: A finished ``kedro run``, with what it printed on stdout.

    Returns:
        Seconds per phase, in the order of the run; None if no node was logged.
    """
    spawn = time.localtime(run.started_at)
    spawned = spawn.tm_hour * 3600 + spawn.tm_min * 60 + spawn.tm_sec + run.started_at % 1
    events = []
    for line in run.stdout.splitlines():
        if match := LOG_LINE.match(line):
            hours, minutes, seconds, millis, message = match.groups()
            at = int(hours) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000
            events.append(((at - spawned) % 86400, message))  # across midnight too
    if not any(message.startswith("Running node: ") for _, message in events):
        return None
    phases: dict[str, float] = collections.defaultdict(float)
    mark, phase, node = 0.0, "start_up", ""
    for at, message in events:
        starts = message.startswith(("Loading data from ", "Running node: "))
        if starts and phase in ("start_up", "between_nodes"):
            phases[phase] += at - mark
            mark, phase = at, "inputs"
        if message.startswith("Running node: "):
            node = message.removeprefix("Running node: ").split(":")[0]
            phases[f"{node}.inputs"] += at - mark
            mark, phase = at, "function"
        elif message.startswith("Saving data to ") and phase == "function":
            phases[f"{node}.function"] += at - mark
            mark, phase = at, "outputs"
        elif message.startswith("Completed node: ") and phase in ("function", "outputs"):
            phases[f"{node}.{phase}"] += at - mark
            mark, phase = at, "between_nodes"
    phases["end"] = run.wall_seconds - mark
    return dict(phases)
