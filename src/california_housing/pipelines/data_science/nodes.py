"""Nodes of the data_science pipeline: fit, predict, score and plot one candidate."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from sklearn.pipeline import Pipeline

from california_housing.modelling import (
    build_estimator,
    make_model,
    predictions_figure,
    regression_metrics,
)
from california_housing.schema import RAW_FEATURES, TARGET, TARGET_UNIT


def fit_model(
    train: pd.DataFrame, model: Mapping[str, Any], version: Mapping[str, Any], seed: int
) -> tuple[Pipeline, float]:
    """Fit one model of the zoo on a version's train split.

    The fitted model takes the 8 raw columns and computes the version's engineered
    features itself, with the same functions that built the version (and, for a version
    with ``neighbourhood`` settings, its neighbourhood features from its own index of the
    training rows).

    Args:
        train: The version's train rows (raw columns, features, target).
        model: The model's entry in ``models`` (``class`` and ``params``).
        version: The version's entry in ``versions`` (its ``features`` and
            ``neighbourhood`` are used).
        seed: ``random_state`` of estimators that take one and do not set it.

    Returns:
        The fitted model and the wall seconds its fit took.
    """
    name = model.get("class", "?")
    estimator = build_estimator(str(name), model, seed=seed)
    pipeline = make_model(
        estimator, version.get("features") or [], version.get("neighbourhood"), seed=seed
    )
    started = time.perf_counter()
    pipeline.fit(train[RAW_FEATURES], train[TARGET])
    return pipeline, time.perf_counter() - started


def predict_test(model: Pipeline, test: pd.DataFrame) -> pd.DataFrame:
    """Predict test rows from their raw columns.

    Args:
        model: A fitted model that takes the raw columns.
        test: Test rows (index ``row_id``): the version's, or the served population's.

    Returns:
        A frame indexed by ``row_id`` with columns ``actual`` and ``predicted``.
    """
    predicted = model.predict(test[RAW_FEATURES])
    return pd.DataFrame({"actual": test[TARGET], "predicted": predicted}, index=test.index)


def evaluate_predictions(
    predictions: pd.DataFrame,
    population_predictions: pd.DataFrame,
    holdout_ids: pd.DataFrame,
    train_seconds: float,
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Score a candidate on its own test split, the common holdout and the served population.

    Args:
        predictions: Output of :func:`predict_test` on the version's test split.
        population_predictions: The same on the served population's test rows (which a
            filtered version may not contain).
        holdout_ids: The common holdout's ``row_id`` column (rows every version has).
        train_seconds: Wall seconds of the fit.

    Returns:
        The flat metrics (``rmse``, ``mae``, ``r2``, ``mape`` on the version's test
        split; the same prefixed ``holdout_`` on the common holdout and ``population_`` on
        the population's test rows; row counts; ``train_seconds``), and the same in
        kedro-mlflow's ``{name: {value, step}}`` form.
    """
    missing = holdout_ids["row_id"][~holdout_ids["row_id"].isin(predictions.index)]
    if not missing.empty:
        raise ValueError(
            f"{len(missing)} common-holdout rows are not in this version's test split; "
            "rerun data_processing so that both come from the same split."
        )
    holdout = predictions.loc[holdout_ids["row_id"]]
    scored = {"": predictions, "holdout_": holdout, "population_": population_predictions}
    metrics = {
        f"{prefix}{name}": value
        for prefix, rows in scored.items()
        for name, value in regression_metrics(rows["actual"], rows["predicted"]).items()
    }
    metrics |= {
        "n_test": float(len(predictions)),
        "n_holdout": float(len(holdout)),
        "n_population": float(len(population_predictions)),
        "train_seconds": float(train_seconds),
    }
    return metrics, {name: {"value": value, "step": 0} for name, value in metrics.items()}


def plot_predictions(predictions: pd.DataFrame, model: Pipeline, candidate: str) -> Figure:
    """Draw the candidate's figure: actual vs predicted, residuals vs predicted.

    Args:
        predictions: Output of :func:`predict_test`.
        model: The fitted model (its final estimator is named in the title).
        candidate: The candidate's name (``v3.xgboost``), which titles the figure.

    Returns:
        The figure.
    """
    title = (
        f"{candidate} ({type(model[-1]).__name__}): own test split, "
        f"{len(predictions):,} rows, {TARGET} in {TARGET_UNIT}"
    )
    return predictions_figure(
        predictions["actual"].to_numpy(), predictions["predicted"].to_numpy(), title
    )


def plot_predictions_for(candidate: str) -> Callable[[pd.DataFrame, Pipeline], Figure]:
    """The node function that draws ``candidate``'s figure with :func:`plot_predictions`.

    Args:
        candidate: The candidate's name (``v3.xgboost``), which titles the figure.

    Returns:
        ``plot_candidate_predictions(predictions, model) -> Figure``.
    """

    def plot_candidate_predictions(predictions: pd.DataFrame, model: Pipeline) -> Figure:
        """Draw this candidate's figure: actual vs predicted, residuals vs predicted."""
        return plot_predictions(predictions, model, candidate)

    return plot_candidate_predictions
