"""Bare baseline of the data_science pipeline: no Kedro, no MLflow, no plots.

``python benchmarks/bare_data_science.py <conf/base>`` loads the real data, builds the
data versions and the shared train/test split with the project's own functions and
configuration, then fits, predicts and scores every model on every version, exactly as
the pipelines configure them. It prints ``{"fit_eval_seconds": ..., "metrics": {...}}``
as JSON; only the fits, predictions and metrics are inside ``fit_eval_seconds``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import yaml
from sklearn.datasets import fetch_california_housing

import california_housing
from california_housing.modelling import build_estimator, make_model, regression_metrics
from california_housing.schema import RAW_FEATURES, TARGET


def load_processing_nodes() -> ModuleType:
    """The data_processing nodes module, loaded from its file.

    ``import california_housing.pipelines.data_processing.nodes`` would first run the
    package's ``__init__``, which builds the Kedro pipeline and so imports and configures
    Kedro (its logging even writes to stdout). The nodes themselves need no Kedro.
    """
    path = Path(california_housing.__file__).parent / "pipelines/data_processing/nodes.py"
    spec = importlib.util.spec_from_file_location("data_processing_nodes", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"Cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fit_and_score(
    train: pd.DataFrame,
    test: pd.DataFrame,
    holdout_ids: pd.Index,
    spec: dict[str, Any],
    *,
    features: list[str],
    seed: int,
) -> dict[str, float]:
    """Fit one candidate and score it on its test split and on the common holdout."""
    model = make_model(build_estimator(str(spec.get("class")), spec, seed=seed), features)
    model.fit(train[RAW_FEATURES], train[TARGET])
    predicted = pd.Series(model.predict(test[RAW_FEATURES]), index=test.index)
    actual = test[TARGET]
    holdout = regression_metrics(actual.loc[holdout_ids], predicted.loc[holdout_ids])
    return regression_metrics(actual, predicted) | {f"holdout_{k}": v for k, v in holdout.items()}


def main(conf_base: Path) -> dict[str, Any]:
    """Run the baseline with the parameters in ``conf_base``.

    Args:
        conf_base: Folder of ``parameters_data_processing.yml`` and
            ``parameters_data_science.yml``.

    Returns:
        ``fit_eval_seconds`` and each candidate's metrics, keyed ``{version}.{model}``.
    """
    processing = yaml.safe_load((conf_base / "parameters_data_processing.yml").read_text())
    science = yaml.safe_load((conf_base / "parameters_data_science.yml").read_text())
    nodes = load_processing_nodes()
    validated = nodes.validate_raw(fetch_california_housing(as_frame=True).frame)
    split_args = processing["split"]
    split = nodes.assign_split(validated, split_args["test_size"], split_args["seed"])
    versions = processing["versions"]
    splits = {
        name: nodes.split_version(nodes.build_version(validated, spec), split)
        for name, spec in versions.items()
    }
    holdout = nodes.common_holdout(validated, split, versions)
    holdout_ids = pd.Index(holdout[nodes.ROW_ID])

    started = time.perf_counter()
    metrics = {
        f"{version}.{model}": fit_and_score(
            train,
            test,
            holdout_ids,
            spec,
            features=list(versions[version].get("features") or []),
            seed=science["seed"],
        )
        for version, (train, test) in splits.items()
        for model, spec in science["models"].items()
    }
    return {"fit_eval_seconds": time.perf_counter() - started, "metrics": metrics}


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
