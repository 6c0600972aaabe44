"""``python -m benchmarks population``: how the served champion answers the whole population.

In a project copy, ``kedro run`` (the whole loop, real data, base configuration) runs once
and promotes a champion. Then every test row of the served population (the 4,128 test rows
of the one shared split, for the whole state) goes through ``POST /predict`` of a real
``kedro serve``, in batches of 1,000 rows, and the answers are scored against the true values:
RMSE on every row, on the rows inside and outside each filtered version's domain, and the
share flagged out of domain. The same rows then go through ``mlflow models serve`` on the
same registered version: the largest difference between the two servers' predictions is
reported. Quality figures, not timings: ``--repeat`` does not apply (one pass).
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.harness import KEDRO, PYTHON, log, project_copy, run_kedro
from benchmarks.serving import served
from california_housing.processes import free_port

BATCH = 1_000


def _post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(  # noqa: S310 (our own server on 127.0.0.1)
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as answer:  # noqa: S310
        return json.loads(answer.read())


def _latest(root: Path, name: str) -> Path:
    """The newest version of a Kedro-versioned file under data/05_model_input."""
    folder = root / "data" / "05_model_input" / name
    return max(folder.iterdir()) / name


def time_population(repeat: int) -> dict[str, Any]:
    """Score the served answers on the population's test rows; see the module docstring."""
    import numpy as np  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415
    import yaml  # noqa: PLC0415

    from california_housing.filters import row_mask  # noqa: PLC0415
    from california_housing.schema import RAW_FEATURES, TARGET  # noqa: PLC0415

    with project_copy() as root:
        log("kedro run (untimed): the whole loop, to promote a champion")
        run_kedro(root, [], "full-run")
        rows = pd.read_parquet(_latest(root, "population_test.parquet"))
        coverage = json.loads(_latest(root, "population_coverage.json").read_text())
        versions = yaml.safe_load((root / "conf/base/parameters_data_processing.yml").read_text())
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [str(KEDRO), "serve", "--host", "127.0.0.1", "--port", str(port)]
        answered, flagged = [], []
        with served(command, root, url, "/ready", "kedro-serve"):
            model = json.loads(urllib.request.urlopen(url + "/model").read())  # noqa: S310
            for start in range(0, len(rows), BATCH):
                batch = rows.iloc[start : start + BATCH][RAW_FEATURES].to_dict(orient="records")
                answer = _post(url + "/predict", {"rows": batch})["predictions"]
                answered += [p["predicted_MedHouseVal"] for p in answer]
                flagged += [p["out_of_domain"] for p in answer]
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        mlflow = PYTHON.with_name("mlflow")
        command = [
            str(mlflow), "models", "serve", "-m", f"models:/california-housing/{model['version']}",
            "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1",
        ]  # fmt: skip
        with served(command, root, url, "/ping", "mlflow-models-serve"):
            body = {"dataframe_split": rows[RAW_FEATURES].to_dict(orient="split", index=False)}
            other = np.asarray(_post(url + "/invocations", body)["predictions"], float)
    predicted, actual = np.asarray(answered, float), rows[TARGET].to_numpy()

    def rmse(mask: np.ndarray) -> float | None:
        return (
            round(float(np.sqrt(np.mean((actual - predicted)[mask] ** 2))), 4)
            if mask.any()
            else None
        )

    domains = {
        name: {
            "filters": spec["filters"],
            "rows": int(inside.sum()),
            "rmse": rmse(inside),
            "outside_rows": int((~inside).sum()),
            "outside_rmse": rmse(~inside),
        }
        for name, spec in versions["versions"].items()
        if spec.get("filters")
        for inside in [row_mask(rows, spec["filters"]).to_numpy()]
    }
    return {
        "population": coverage["description"],
        "rows": len(rows),
        "champion": {
            k: model[k] for k in ("version", "candidate", "data_version", "population_rmse")
        },
        "served_rmse": rmse(np.ones(len(rows), bool)),
        "out_of_domain_share": round(float(np.mean(flagged)), 4),
        "domains": domains,
        "mlflow_models_serve_max_abs_difference": float(np.max(np.abs(other - predicted))),
    }
