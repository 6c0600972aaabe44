"""Modelling code shared by the data_science, tuning and reporting pipelines.

One place builds estimators from configuration, wraps them with the feature step,
scores predictions and draws the per-candidate figure, so every candidate (zoo or tuned)
is built and measured the same way.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.base import RegressorMixin
from sklearn.metrics import (
    mean_absolute_error,
    mean_absolute_percentage_error,
    r2_score,
    root_mean_squared_error,
)
from sklearn.pipeline import Pipeline

from california_housing.features import FeatureEngineer, NeighbourhoodFeatures
from california_housing.schema import TARGET_UNIT


def build_estimator(name: str, spec: Mapping[str, Any], seed: int | None = None) -> RegressorMixin:
    """Instantiate an estimator from its configuration entry.

    Args:
        name: The model's key in configuration (used in error messages).
        spec: ``{"class": "package.module.Class", "params": {...}}``.
        seed: Passed as ``random_state`` when the estimator takes one and ``params``
            does not set it.

    Returns:
        An unfitted regressor.

    Raises:
        ValueError: If the class cannot be imported or is not a regressor, naming ``name``.
    """
    class_path = spec.get("class")
    if not isinstance(class_path, str) or "." not in class_path:
        raise ValueError(
            f"Model {name!r}: 'class' must be a dotted import path such as "
            f"'sklearn.ensemble.RandomForestRegressor', got {class_path!r}."
        )
    module_name, _, class_name = class_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError, TypeError) as exc:  # e.g. '.Foo'
        raise ValueError(
            f"Model {name!r}: cannot import estimator class {class_path!r} ({exc})."
        ) from None
    params = dict(spec.get("params") or {})
    try:
        estimator = cls(**params)
    except TypeError as exc:
        raise ValueError(f"Model {name!r}: bad parameters for {class_path}: {exc}") from None
    if not isinstance(estimator, RegressorMixin):
        raise ValueError(f"Model {name!r}: {class_path} is not a scikit-learn regressor.")
    if (
        seed is not None
        and "random_state" in estimator.get_params()
        and "random_state" not in params
    ):
        estimator.set_params(random_state=seed)
    return estimator


def feature_steps(
    features: Sequence[str], neighbourhood: Mapping[str, Any] | None = None, seed: int | None = None
) -> Pipeline:
    """The steps of a model before its estimator: raw columns in, model inputs out.

    Args:
        features: Engineered features of the data version the model is trained on.
        neighbourhood: The version's ``neighbourhood`` settings (``k``, ``folds``): when
            given, a fitted :class:`NeighbourhoodFeatures` step follows the features.
        seed: Its ``random_state`` (the cross-fitting folds), unless the settings set it.

    Returns:
        ``Pipeline([("features", FeatureEngineer(features))])``, followed by
        ``("neighbourhood", NeighbourhoodFeatures(...))`` when asked for.

    Raises:
        ValueError: Naming a neighbourhood setting that does not exist.
    """
    steps: list[tuple[str, Any]] = [("features", FeatureEngineer(list(features)))]
    if neighbourhood is not None:
        try:
            steps.append(
                ("neighbourhood", NeighbourhoodFeatures(**{"random_state": seed, **neighbourhood}))
            )
        except TypeError as exc:
            raise ValueError(
                f"Bad neighbourhood settings {dict(neighbourhood)}: {exc}. Use k, folds and "
                "random_state (parameters_data_processing.yml)."
            ) from None
    return Pipeline(steps)


def make_model(
    estimator: RegressorMixin,
    features: Sequence[str],
    neighbourhood: Mapping[str, Any] | None = None,
    seed: int | None = None,
) -> Pipeline:
    """Wrap an estimator so it takes the raw columns and engineers its own features.

    Args:
        estimator: Unfitted regressor.
        features: Engineered features of the data version the model is trained on.
        neighbourhood: The version's ``neighbourhood`` settings (see :func:`feature_steps`).
        seed: The neighbourhood step's ``random_state``, unless the settings set it.

    Returns:
        :func:`feature_steps` followed by ``("model", estimator)``.
    """
    return Pipeline([*feature_steps(features, neighbourhood, seed).steps, ("model", estimator)])


def regression_metrics(y_true: pd.Series | np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Score predictions.

    Args:
        y_true: Actual target values.
        y_pred: Predicted values.

    Returns:
        ``rmse``, ``mae``, ``r2`` and ``mape`` (in percent).
    """
    return {
        "rmse": float(root_mean_squared_error(y_true, y_pred)),
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "r2": float(r2_score(y_true, y_pred)),
        "mape": float(100.0 * mean_absolute_percentage_error(y_true, y_pred)),
    }


def predictions_figure(actual: np.ndarray, predicted: np.ndarray, title: str) -> Figure:
    """Two panels: actual vs predicted with the identity line, residuals vs predicted.

    Args:
        actual: Actual target values.
        predicted: Predicted values.
        title: Figure title (the candidate's name).

    Returns:
        A matplotlib figure (not registered with pyplot).
    """
    fig = Figure(figsize=(11, 4.8))
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.11, top=0.86, wspace=0.22)
    scatter_ax, resid_ax = fig.subplots(1, 2)
    low = float(min(actual.min(), predicted.min()))
    high = float(max(actual.max(), predicted.max()))
    points = {
        "linestyle": "none",
        "marker": ".",
        "markersize": 3,
        "markeredgewidth": 0,
        "alpha": 0.35,
    }
    scatter_ax.plot(actual, predicted, **points)
    scatter_ax.plot([low, high], [low, high], color="tab:red", linewidth=1, label="y = x")
    scatter_ax.set(
        xlabel=f"Actual MedHouseVal ({TARGET_UNIT})",
        ylabel=f"Predicted MedHouseVal ({TARGET_UNIT})",
        title="Actual vs predicted",
    )
    scatter_ax.legend(loc="upper left")
    residuals = actual - predicted
    resid_ax.plot(predicted, residuals, **points)
    resid_ax.axhline(0.0, color="tab:red", linewidth=1)
    resid_ax.set(
        xlabel=f"Predicted MedHouseVal ({TARGET_UNIT})",
        ylabel="Residual (actual - predicted)",
        title="Residuals vs predicted",
    )
    fig.suptitle(title)
    return fig
