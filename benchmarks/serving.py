"""``python -m benchmarks serving``: ``kedro serve`` against ``mlflow models serve``.

Both serve the same champion (an XGBoost pipeline of 300 trees on the whole-state version's
features and neighbourhood step, trained on the real data, logged by the project's promotion
code and registered as ``california-housing@champion`` in a throw-away copy of the project):
the neighbour lookup runs inside the model on every request. One worker each, on
127.0.0.1, one server at a time. The load generator is ``wrk`` (C, event-driven, one thread;
``apt-get install wrk``) with a Lua script that POSTs a fixed body. Per server:

- single row, 1 connection: latency p50 / p99;
- single row, 16 connections: requests per second;
- 1,000-row batch, 1 connection: latency p50.

``kedro serve`` runs with validation and the prediction log on (SQLite in the copy). Each
measurement lasts ``SECONDS`` (split over ``--repeat`` passes; the median pass is reported).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.harness import KEDRO, PYTHON, BenchmarkError, child_env, log, project_copy
from california_housing.processes import ProcessError, free_port, http_ok, started

SECONDS = 30.0  # per measurement (all passes together)
# Short on purpose: back-to-back 1,000-row batches are ~100,000 rows/s, more than the SQLite
# log writes for long; a longer pass fills the log's buffer and then measures its 503
# back-pressure, not a batch's latency.
BATCH_SECONDS = 1.0
MODEL_NAME = "california-housing"  # conf/base's registered model name
SERVED_VERSION = "v4"  # the whole-state version of conf/base, the one the gate promotes
REGISTER = """
import sys
import mlflow
import xgboost
import yaml
from importlib.metadata import version
from california_housing.datasets import CaliforniaHousingDataset
from california_housing.datasets.mlflow_datasets import log_portable_model
from california_housing.filters import row_mask
from california_housing.modelling import make_model
from california_housing.schema import RAW_FEATURES, TARGET

uri, name, served = sys.argv[1], sys.argv[2], sys.argv[3]
spec = yaml.safe_load(open("conf/base/parameters_data_processing.yml"))["versions"][served]
raw = CaliforniaHousingDataset().load()
kept = raw[row_mask(raw, spec["filters"])]
model = make_model(
    xgboost.XGBRegressor(n_estimators=300, max_depth=6, learning_rate=0.05,
                         tree_method="hist", n_jobs=1, random_state=42),
    spec["features"], spec.get("neighbourhood"), seed=42,
).fit(kept[RAW_FEATURES], kept[TARGET])
mlflow.set_tracking_uri(uri)
mlflow.set_experiment("serving-benchmark")
with mlflow.start_run() as run:
    pass
# logged as a promoted champion is (the project's promotion code), then registered
info = log_portable_model(
    model, run.info.run_id,
    input_example=kept[RAW_FEATURES].iloc[0].to_dict(),
    pip_requirements=[f"{d}=={version(d)}" for d in
                      ("scikit-learn", "xgboost-cpu", "pandas", "numpy", "skops")],
    skops_trusted_types=["california_housing.features.FeatureEngineer",
                         "california_housing.features.NeighbourhoodFeatures",
                         "xgboost.core.Booster", "xgboost.sklearn.XGBRegressor"],
)
registered = mlflow.register_model(info.model_uri, name,
                                   tags={"candidate": f"{served}.xgboost", "data_version": served})
mlflow.MlflowClient().set_registered_model_alias(name, "champion", registered.version)
print(registered.version)
"""


def _group_cpu_seconds(pgid: int) -> float:
    """User + system CPU time of the live processes of a process group, in seconds."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:  # pgrp; utime and stime are fields 14 and 15 of stat
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _group_peak_rss_mb(pgid: int) -> float:
    """Largest peak RSS (VmHWM) among the live processes of a process group."""
    peak = 0
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:  # field 5 (pgrp) of /proc/<pid>/stat
                continue
            text = status.with_name("status").read_text()
        except (OSError, IndexError, ValueError):
            continue
        match = re.search(r"VmHWM:\s+(\d+) kB", text)
        if match:
            peak = max(peak, int(match.group(1)))
    return round(peak / 1024, 1)


@contextmanager
def served(
    command: list[str], cwd: Path, url: str, ready_path: str, label: str
) -> Iterator[subprocess.Popen]:
    """Run a server in the project copy until the block ends (logs under ``logs/<label>.log``).

    Raises:
        BenchmarkError: When it exits, or is not ready in 240 s.
    """
    environ = child_env() | {"MLFLOW_TRACKING_URI": f"sqlite:///{cwd}/mlflow.db"}
    ready, log_path = http_ok(url + ready_path), cwd / "logs" / f"{label}.log"
    try:
        with started(command, ready=ready, log_path=log_path, cwd=cwd, env=environ,
                     timeout=240) as process:  # fmt: skip
            yield process
    except ProcessError as exc:
        raise BenchmarkError(f"{label}: {exc}") from None


def _wrk(url: str, body: bytes, connections: int, seconds: float, root: Path) -> dict[str, Any]:
    script = root / f"post-{len(body)}.lua"
    if not script.exists():
        body_path = root / f"body-{len(body)}.json"
        body_path.write_bytes(body)
        script.write_text(
            'wrk.method = "POST"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f'local file = io.open("{body_path}", "rb")\n'
            "wrk.body = file:read(\"*a\")\nfile:close()\n"
        )  # fmt: skip
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
        "--timeout", "10s", "-s", str(script), url,
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return _parse_wrk(output)


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _parse_wrk(output: str) -> dict[str, Any]:
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, flags=re.MULTILINE))
    parsed = {}
    for key, value in latency.items():
        number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()
        parsed[f"p{key}_ms"] = round(_ms(number, unit), 3)
    parsed["requests_per_second"] = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])
    parsed["requests"] = int(re.search(r"(\d+) requests in", output)[1])
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    parsed["non_2xx"] = int(errors[1]) if errors else 0
    if socket_errors:
        parsed["socket_errors"] = socket_errors[1]
    return parsed


def _wait_log_idle(url: str, timeout: float = 300) -> None:
    """Wait until the prediction log's row count stops growing."""
    previous, started = -1, time.monotonic()
    while time.monotonic() - started < timeout:
        with urllib.request.urlopen(url + "/predictions?limit=1") as answer:  # noqa: S310
            total = json.load(answer)["total"]
        if total == previous:
            return
        previous = total
        time.sleep(1)


def _drain(url: str, passes: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Wait until every row answered 200 is in the prediction log; how long that took."""
    answered = sum(p["requests"] - p["non_2xx"] for p in passes["single"] + passes["throughput"])
    answered += 1000 * sum(p["requests"] - p["non_2xx"] for p in passes["batch"])
    started = time.monotonic()
    logged = 0
    while time.monotonic() - started < 300:
        with urllib.request.urlopen(url + "/predictions?limit=1") as answer:  # noqa: S310
            logged = json.load(answer)["total"]
        if logged >= answered:
            break
        time.sleep(1)
    return {
        "rows_answered": answered,
        "rows_logged": logged,
        "log_drain_seconds_after_load": round(time.monotonic() - started, 1),
    }


def _measure(
    url: str, bodies: dict[str, bytes], repeat: int, root: Path, pgid: int
) -> dict[str, Any]:
    passes: dict[str, list[dict[str, Any]]] = {"single": [], "throughput": [], "batch": []}
    for i in range(repeat):
        for name, connections, body, seconds in (
            ("single", 1, bodies["single"], SECONDS),
            ("throughput", 16, bodies["single"], SECONDS),
            ("batch", 1, bodies["batch"], BATCH_SECONDS),
        ):
            cpu = _group_cpu_seconds(pgid)
            result = _wrk(url, body, connections, seconds / repeat, root)
            if url.endswith("/predict"):  # count the log writes the requests caused, too
                _wait_log_idle(url.removesuffix("/predict"))
            # the server's own CPU per request: what one core could serve, whatever the load
            result["server_cpu_ms_per_request"] = round(
                1000 * (_group_cpu_seconds(pgid) - cpu) / max(result["requests"], 1), 3
            )
            passes[name].append(result)
            log(f"[{i + 1}/{repeat}] {url} {name}: {passes[name][-1]}")

    def median(name: str, key: str) -> float:
        return round(statistics.median(p[key] for p in passes[name]), 3)

    return {
        "single_row_p50_ms": median("single", "p50_ms"),
        "single_row_p99_ms": median("single", "p99_ms"),
        "requests_per_second_16_connections": median("throughput", "requests_per_second"),
        "batch_1000_rows_p50_ms": median("batch", "p50_ms"),
        "server_cpu_ms_per_request_16_connections": median(
            "throughput", "server_cpu_ms_per_request"
        ),
        "server_cpu_ms_per_1000_row_batch": median("batch", "server_cpu_ms_per_request"),
        "non_2xx": sum(p["non_2xx"] for name in passes for p in passes[name]),
        "passes": passes,
    }


def time_serving(repeat: int) -> dict[str, Any]:
    """Measure both servers on the same champion; see the module docstring."""
    from california_housing.schema import EXAMPLE_ROW as ROW  # noqa: PLC0415 (pandas)

    if shutil.which("wrk") is None:
        raise BenchmarkError("wrk is not installed: apt-get install -y wrk")
    with project_copy() as root:
        log("training and registering the benchmark champion (300 trees, real data)")
        subprocess.run(
            [str(PYTHON), "-c", REGISTER, f"sqlite:///{root}/mlflow.db", MODEL_NAME,
             SERVED_VERSION],
            cwd=root, env=child_env(), check=True, capture_output=True,
        )  # fmt: skip
        bodies = {
            "single": json.dumps({"rows": [ROW]}).encode(),
            "batch": json.dumps({"rows": [ROW] * 1000}).encode(),
        }
        mlflow_bodies = {
            "single": json.dumps({"dataframe_records": [ROW]}).encode(),
            "batch": json.dumps({"dataframe_records": [ROW] * 1000}).encode(),
        }
        results: dict[str, Any] = {}
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [str(KEDRO), "serve", "--host", "127.0.0.1", "--port", str(port)]
        with served(command, root, url, "/ready", "kedro-serve") as process:
            results["kedro_serve"] = _measure(url + "/predict", bodies, repeat, root, process.pid)
            results["kedro_serve"]["peak_rss_mb"] = _group_peak_rss_mb(process.pid)
            results["kedro_serve"] |= _drain(url, results["kedro_serve"]["passes"])
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        mlflow = PYTHON.with_name("mlflow")
        command = [
            str(mlflow), "models", "serve", "-m", f"models:/{MODEL_NAME}@champion",
            "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1",
        ]  # fmt: skip
        with served(command, root, url, "/ping", "mlflow-models-serve") as process:
            results["mlflow_models_serve"] = _measure(
                url + "/invocations", mlflow_bodies, repeat, root, process.pid
            )
            results["mlflow_models_serve"]["peak_rss_mb"] = _group_peak_rss_mb(process.pid)
    ours, theirs = results["kedro_serve"], results["mlflow_models_serve"]
    results["throughput_ratio"] = round(
        ours["requests_per_second_16_connections"] / theirs["requests_per_second_16_connections"],
        2,
    )
    results["cpu_per_request_ratio"] = round(
        theirs["server_cpu_ms_per_request_16_connections"]
        / ours["server_cpu_ms_per_request_16_connections"],
        2,
    )
    results["load_generator"] = "wrk -t1 (single row: -c1 and -c16; batch: -c1)"
    uptime = subprocess.run(["uptime"], check=False, capture_output=True, text=True)
    results["uptime"] = uptime.stdout.strip()
    return results
