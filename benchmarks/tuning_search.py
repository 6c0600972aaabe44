"""The tuning search alone, as configured, against the same search run naively.

``python benchmarks/tuning_search.py <conf/base> <mode> <out.json> <version> [<search space>]``
builds the version's real train/test split with the project's own functions, then runs the
project's ``tune_hyperparameters`` with the version's tuning settings on a fresh in-memory
study, with no tracking:

- ``default``: the configuration in ``parameters_tuning.yml`` (parallel folds, pruning);
- ``sequential``: the same sampler, space and trial count, one fold at a time, no pruner.

It writes the search wall seconds, the best CV RMSE, the trial states and, for reporting
only, the test RMSE of the best parameters refit on the whole train split.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import optuna
import yaml
from sklearn.datasets import fetch_california_housing
from sklearn.metrics import root_mean_squared_error

from california_housing.pipelines.data_processing.nodes import (
    assign_split,
    build_version,
    split_version,
    validate_raw,
)
from california_housing.pipelines.data_science.nodes import fit_model
from california_housing.pipelines.tuning.nodes import (
    tune_hyperparameters,
    tuned_model_spec,
    version_tuning,
)
from california_housing.schema import RAW_FEATURES, TARGET


def main(conf: Path, mode: str, out: Path, version_name: str, space: str | None = None) -> None:
    params = {}
    for name in ("data_processing", "data_science", "tuning"):
        params |= yaml.safe_load((conf / f"parameters_{name}.yml").read_text())
    tuning = version_tuning(params["tuning"], params["tuning"]["versions"][version_name])
    if space is not None:
        tuning["search_space"] = space
    if mode == "sequential":
        tuning |= {"parallel_folds": 1, "pruner": {"type": "NopPruner"}}
    version = params["versions"][version_name]
    model = params["models"][tuning["model"]]

    raw = validate_raw(fetch_california_housing(as_frame=True).frame)
    split = assign_split(raw, params["split"]["test_size"], params["split"]["seed"])
    train, test = split_version(build_version(raw, version), split)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize")
    started = time.perf_counter()
    best, trials, _ = tune_hyperparameters(
        study, lambda study, trial: None, train, model, version, tuning
    )
    search_seconds = time.perf_counter() - started

    refit, _ = fit_model(train, tuned_model_spec(model, tuning, best), version, params["seed"])
    test_rmse = root_mean_squared_error(test[TARGET], refit.predict(test[RAW_FEATURES]))
    states = trials["state"].value_counts().to_dict()
    result = {
        "mode": mode,
        "version": version_name,
        "search_space": tuning["search_space"],
        "train_rows": len(train),
        "search_seconds": round(search_seconds, 2),
        "best_cv_rmse": round(best["cv_rmse"], 5),
        "trials": states,
        "refit_test_rmse": round(float(test_rmse), 5),
    }
    out.write_text(json.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), sys.argv[4], *sys.argv[5:6])
