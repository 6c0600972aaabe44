"""``python -m benchmarks monitoring``: the monitoring pipeline over a large prediction log.

In a project copy, ``kedro run --env test`` runs once (untimed) to build the data versions
and register a champion; a prediction log with the service's schema is then written with
``--rows`` predictions (default 100,000: real rows of the data, over the last 24 hours) and
a tenth as many feedback rows, a chunk at a time, through the service's own log writer.
Each timed run is ``kedro run --env test --pipelines monitoring`` in a
fresh process: its wall time and peak RSS, and the pipeline's own time as Kedro reports
it ("Pipeline execution completed successfully in X sec"), so start-up is stated apart.
The test environment only shrinks the models; the monitoring pipeline does the same work
as in base (it scores the champion on its test split, not the log).
"""

from __future__ import annotations

import json
import re
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.harness import log, project_copy, run_kedro, summarise

PREDICTIONS = 100_000
#: Rows generated and written at a time.
CHUNK = 500_000
_PIPELINE_SECONDS = re.compile(r"Pipeline execution completed successfully in ([0-9.]+) sec")


def write_benchmark_log(root: Path, rows: int = PREDICTIONS) -> Path:
    """Write the prediction log of the copy's test environment: ``rows`` predictions over
    the last 24 hours, a tenth of them with feedback.

    Args:
        root: The project copy.
        rows: Predictions to log.

    Returns:
        The SQLite file.
    """
    import numpy as np  # noqa: PLC0415

    from california_housing.datasets import CaliforniaHousingDataset  # noqa: PLC0415
    from california_housing.serving.log.store import LogStore  # noqa: PLC0415
    from california_housing.serving.log.synthetic import log_rows  # noqa: PLC0415
    from california_housing.serving.log.tables import (  # noqa: PLC0415
        FEEDBACK_COLUMNS,
        PREDICTION_COLUMNS,
    )

    raw = CaliforniaHousingDataset().load()
    path = root / "data" / "test" / "09_serving" / "prediction_log.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    store = LogStore(f"sqlite:///{path}")
    store.open()
    start, step = datetime.now(UTC) - timedelta(hours=24), 24 * 3600 / rows
    try:
        for first in range(0, rows, CHUNK):
            n = min(CHUNK, rows - first)
            rng = np.random.default_rng(first)
            sample = raw.iloc[rng.integers(0, len(raw), n)].reset_index(drop=True)
            predicted = sample["MedHouseVal"].to_numpy() + rng.normal(0, 0.45, n)
            logged, fed = log_rows(
                sample,
                predicted.clip(0.15, 5.0),
                model_version=1,
                start=start + timedelta(seconds=first * step),
                seconds_apart=step,
                feedback_every=10,
                seed=first,
            )
            store.write(
                [
                    ("predictions", list(logged[list(PREDICTION_COLUMNS)].itertuples(False, None))),
                    ("feedback", list(fed[list(FEEDBACK_COLUMNS)].itertuples(False, None))),
                ]
            )
    finally:
        store.close()
    return path


def time_monitoring(repeat: int, rows: int = PREDICTIONS) -> dict[str, Any]:
    """Time ``kedro run --env test --pipelines monitoring`` over a log of ``rows`` predictions.

    Returns:
        The runs (wall, peak RSS), the pipeline's own seconds and start-up seconds
        (wall minus pipeline), with medians.
    """
    args = ["--env", "test", "--pipelines", "monitoring"]
    with project_copy() as root:
        log("prerequisite (untimed): kedro run --env test")
        run_kedro(root, ["--env", "test"], "prerequisite-test-env")
        log(f"writing a log of {rows:,} predictions and {rows // 10:,} feedback rows")
        write_benchmark_log(root, rows)
        runs, pipeline_seconds = [], []
        for i in range(repeat):
            runs.append(run_kedro(root, args, f"monitoring-{i}"))
            err = (root / "logs" / f"monitoring-{i}.err").read_text(errors="replace")
            found = _PIPELINE_SECONDS.findall(err + runs[-1].stdout)
            pipeline_seconds.append(float(found[-1]) if found else float("nan"))
            log(
                f"[{i + 1}/{repeat}] wall {runs[-1].wall_seconds:.1f} s, "
                f"pipeline {pipeline_seconds[-1]:.1f} s, peak {runs[-1].peak_rss_mb:.0f} MB"
            )
        decision = (root / "data/test/08_reporting/monitoring/decision.json").read_text()
    startup = [r.wall_seconds - p for r, p in zip(runs, pipeline_seconds, strict=True)]
    return {
        "log": {"predictions": rows, "feedback": rows // 10},
        "kedro": summarise(runs, "kedro run " + " ".join(args)),
        "pipeline_seconds": pipeline_seconds,
        "median_pipeline_seconds": round(statistics.median(pipeline_seconds), 3),
        "median_startup_seconds": round(statistics.median(startup), 3),
        "targets": {"pipeline_seconds": 60, "peak_rss_mb": 2048}
        if rows >= 10_000_000
        else {"pipeline_seconds": 10, "peak_rss_mb": 1024},
        "decision_status": json.loads(decision)["status"],
    }
