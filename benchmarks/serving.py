"""``python -m benchmarks serving``: ``kedro serve`` against ``mlflow models serve``.

Both serve the same champion (an XGBoost pipeline of 300 trees on v3's features, trained on
the real data and registered as ``california-housing@champion`` in a throw-away copy of the
project), one worker each, on 127.0.0.1, one server at a time. The load generator is ``wrk``
(C, event-driven, one thread; ``apt-get install wrk``) with a Lua script that POSTs a fixed
body. Per server:

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
import signal
import socket
import statistics
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.harness import KEDRO, PYTHON, BenchmarkError, child_env, log, project_copy

SECONDS = 30.0  # per measurement (all passes together)
BATCH_SECONDS = 15.0
MODEL_NAME = "california-housing"  # conf/base's registered model name
V3_FEATURES = [
    "rooms_per_household",
    "bedrooms_ratio",
    "population_density",
    "income_category_encoded",
]
ROW = {
    "MedInc": 8.3252,
    "HouseAge": 41.0,
    "AveRooms": 6.984127,
    "AveBedrms": 1.02381,
    "Population": 322.0,
    "AveOccup": 2.555556,
    "Latitude": 37.88,
    "Longitude": -122.23,
}

REGISTER = """
import sys
import mlflow
import xgboost
from mlflow.models import infer_signature
from california_housing.datasets import CaliforniaHousingDataset
from california_housing.modelling import make_model
from california_housing.schema import RAW_FEATURES, TARGET

uri, name, features = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
raw = CaliforniaHousingDataset().load()
kept = raw[(raw[TARGET] <= 5.0) & (raw["Longitude"] < -119.0)]
model = make_model(
    xgboost.XGBRegressor(n_estimators=300, max_depth=6, learning_rate=0.05,
                         tree_method="hist", n_jobs=1, random_state=42),
    features,
).fit(kept[RAW_FEATURES], kept[TARGET])
example = kept[RAW_FEATURES].head(5)
mlflow.set_tracking_uri(uri)
mlflow.set_experiment("serving-benchmark")
with mlflow.start_run() as run:
    mlflow.sklearn.log_model(
        model, name="model", serialization_format="skops",
        skops_trusted_types=["california_housing.features.FeatureEngineer",
                             "xgboost.core.Booster", "xgboost.sklearn.XGBRegressor"],
        signature=infer_signature(example, model.predict(example)),
        pip_requirements=["xgboost-cpu", "scikit-learn", "pandas", "skops"],
    )
version = mlflow.register_model(f"runs:/{run.info.run_id}/model", name,
                                tags={"candidate": "v3.xgboost", "data_version": "v3"})
mlflow.MlflowClient().set_registered_model_alias(name, "champion", version.version)
print(version.version)
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
def _server(command: list[str], cwd: Path, url: str, ready_path: str, label: str):
    logs = cwd / "logs"
    logs.mkdir(exist_ok=True)
    with (logs / f"{label}.log").open("wb") as out:
        process = subprocess.Popen(
            command, cwd=cwd, env=child_env() | {"MLFLOW_TRACKING_URI":
            f"sqlite:///{cwd}/mlflow.db"}, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while True:
            if process.poll() is not None:
                tail = (logs / f"{label}.log").read_text(errors="replace")[-2000:]
                raise BenchmarkError(f"{label} exited with {process.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(url + ready_path, timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BenchmarkError(f"{label} did not get ready in 240 s")
            time.sleep(0.5)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


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


def _measure(url: str, bodies: dict[str, bytes], repeat: int, root: Path) -> dict[str, Any]:
    passes: dict[str, list[dict[str, Any]]] = {"single": [], "throughput": [], "batch": []}
    for i in range(repeat):
        for name, connections, body, seconds in (
            ("single", 1, bodies["single"], SECONDS),
            ("throughput", 16, bodies["single"], SECONDS),
            ("batch", 1, bodies["batch"], BATCH_SECONDS),
        ):
            passes[name].append(_wrk(url, body, connections, seconds / repeat, root))
            log(f"[{i + 1}/{repeat}] {url} {name}: {passes[name][-1]}")

    def median(name: str, key: str) -> float:
        return round(statistics.median(p[key] for p in passes[name]), 3)

    return {
        "single_row_p50_ms": median("single", "p50_ms"),
        "single_row_p99_ms": median("single", "p99_ms"),
        "requests_per_second_16_connections": median("throughput", "requests_per_second"),
        "batch_1000_rows_p50_ms": median("batch", "p50_ms"),
        "non_2xx": sum(p["non_2xx"] for name in passes for p in passes[name]),
        "passes": passes,
    }


def time_serving(repeat: int) -> dict[str, Any]:
    """Measure both servers on the same champion; see the module docstring."""
    if shutil.which("wrk") is None:
        raise BenchmarkError("wrk is not installed: apt-get install -y wrk")
    with project_copy() as root:
        log("training and registering the benchmark champion (300 trees, real data)")
        subprocess.run(
            [str(PYTHON), "-c", REGISTER, f"sqlite:///{root}/mlflow.db", MODEL_NAME,
             ",".join(V3_FEATURES)],
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
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        command = [str(KEDRO), "serve", "--host", "127.0.0.1", "--port", str(port)]
        with _server(command, root, url, "/ready", "kedro-serve") as process:
            results["kedro_serve"] = _measure(url + "/predict", bodies, repeat, root)
            results["kedro_serve"]["peak_rss_mb"] = _group_peak_rss_mb(process.pid)
            with urllib.request.urlopen(url + "/predictions?limit=1") as answer:  # noqa: S310
                results["kedro_serve"]["rows_logged"] = json.load(answer)["total"]
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        mlflow = PYTHON.with_name("mlflow")
        command = [
            str(mlflow), "models", "serve", "-m", f"models:/{MODEL_NAME}@champion",
            "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1",
        ]  # fmt: skip
        with _server(command, root, url, "/ping", "mlflow-models-serve") as process:
            results["mlflow_models_serve"] = _measure(
                url + "/invocations", mlflow_bodies, repeat, root
            )
            results["mlflow_models_serve"]["peak_rss_mb"] = _group_peak_rss_mb(process.pid)
    ours, theirs = results["kedro_serve"], results["mlflow_models_serve"]
    results["throughput_ratio"] = round(
        ours["requests_per_second_16_connections"] / theirs["requests_per_second_16_connections"],
        2,
    )
    results["load_generator"] = "wrk -t1 (single row: -c1 and -c16; batch: -c1)"
    uptime = subprocess.run(["uptime"], check=False, capture_output=True, text=True)
    results["uptime"] = uptime.stdout.strip()
    return results
