"""``python -m benchmarks monitoring``: the monitoring pipeline over a large prediction log.

In a project copy, ``kedro run --env test`` runs once (untimed) to build the data versions
and register a champion; a prediction log with the service's schema is then written with
100,000 predictions (real rows of the test split, over the last 24 hours) and 10,000
feedback rows. Each timed run is ``kedro run --env test --pipelines monitoring`` in a
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

PREDICTIONS, FEEDBACK = 100_000, 10_000
_PIPELINE_SECONDS = re.compile(r"Pipeline execution completed successfully in ([0-9.]+) sec")


def write_benchmark_log(root: Path, rows: int = PREDICTIONS, feedback: int = FEEDBACK) -> Path:
    """Write the prediction log of the copy's test environment.

    Args:
        root: The project copy.
        rows: Predictions to log.
        feedback: How many of them get feedback.

    Returns:
        The SQLite file.
    """
    import numpy as np  # noqa: PLC0415

    from california_housing.datasets import CaliforniaHousingDataset  # noqa: PLC0415
    from california_housing.serving.log.synthetic import log_rows, write_log  # noqa: PLC0415

    raw = CaliforniaHousingDataset().load()
    rng = np.random.default_rng(0)
    sample = raw.iloc[rng.integers(0, len(raw), rows)].reset_index(drop=True)
    predicted = sample["MedHouseVal"].to_numpy() + rng.normal(0, 0.45, rows)
    logged, fed = log_rows(
        sample,
        predicted.clip(0.15, 5.0),
        model_version=1,
        start=datetime.now(UTC) - timedelta(hours=24),
        seconds_apart=24 * 3600 / rows,
        feedback_every=rows // feedback,
    )
    path = root / "data" / "test" / "09_serving" / "prediction_log.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_log(f"sqlite:///{path}", logged, fed)
    return path


def time_monitoring(repeat: int) -> dict[str, Any]:
    """Time ``kedro run --env test --pipelines monitoring`` over the large log.

    Returns:
        The runs (wall, peak RSS), the pipeline's own seconds and start-up seconds
        (wall minus pipeline), with medians.
    """
    args = ["--env", "test", "--pipelines", "monitoring"]
    with project_copy() as root:
        log("prerequisite (untimed): kedro run --env test")
        run_kedro(root, ["--env", "test"], "prerequisite-test-env")
        log(f"writing a log of {PREDICTIONS:,} predictions and {FEEDBACK:,} feedback rows")
        write_benchmark_log(root)
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
        "log": {"predictions": PREDICTIONS, "feedback": FEEDBACK},
        "kedro": summarise(runs, "kedro run " + " ".join(args)),
        "pipeline_seconds": pipeline_seconds,
        "median_pipeline_seconds": round(statistics.median(pipeline_seconds), 3),
        "median_startup_seconds": round(statistics.median(startup), 3),
        "targets": {"pipeline_seconds": 10, "peak_rss_mb": 1024},
        "decision_status": json.loads(decision)["status"],
    }
