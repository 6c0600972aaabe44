"""Scoring rows with a model: the one function behind batch inference and the serving API.

Both the ``inference`` pipeline and ``kedro serve`` turn validated rows into a float matrix
of the eight raw columns (:func:`feature_matrix` or the API's own parser), then call
:func:`score`, so the same rows get the same predictions and the same domain flags in both.

Speed: a registered model is an sklearn ``Pipeline`` that takes a DataFrame of the raw
columns. Building a one-row DataFrame and xgboost's pandas path cost several times the
prediction itself, so :class:`MatrixModel` runs the pipeline's steps on the numpy matrix
directly, but only after checking, when it wraps the model, that this gives exactly the
model's own ``predict`` on reference rows (and warns of nothing). Otherwise it calls the
model's ``predict`` on a DataFrame.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from california_housing.filters import domain_violations
from california_housing.schema import RAW_FEATURES


class Regressor(Protocol):
    """Anything with ``predict`` on the raw columns (the registry's champion)."""

    def predict(self, X: Any) -> Any:  # noqa: D102
        ...


@dataclass(frozen=True)
class Scores:
    """Predictions of a batch and, per row, the training-domain rules it breaks."""

    predictions: np.ndarray
    violations: list[list[str]]

    @property
    def out_of_domain(self) -> np.ndarray:
        """Boolean per row: does it break any rule of the model's data version."""
        return np.fromiter((bool(v) for v in self.violations), dtype=bool, count=len(self))

    def __len__(self) -> int:
        """Number of rows scored."""
        return len(self.predictions)


def reference_rows(count: int = 64, seed: int = 0) -> np.ndarray:
    """Plausible raw rows (inside the schema's ranges) to check a model's fast path on."""
    rng = np.random.default_rng(seed)
    columns = {
        "MedInc": rng.uniform(0.5, 15.0, count),  # every income category
        "HouseAge": rng.integers(1, 53, count).astype("float64"),
        "AveRooms": rng.uniform(1.0, 10.0, count),
        "AveBedrms": rng.uniform(0.5, 2.0, count),
        "Population": rng.integers(3, 6000, count).astype("float64"),
        "AveOccup": rng.uniform(1.0, 6.0, count),
        "Latitude": rng.uniform(32.5, 42.0, count),
        "Longitude": rng.uniform(-124.3, -114.3, count),
    }
    return np.column_stack([columns[name] for name in RAW_FEATURES])


class MatrixModel:
    """A model that takes the raw-column matrix, numpy all the way where that is exact.

    Args:
        model: Fitted model taking a DataFrame of the eight raw columns.
    """

    def __init__(self, model: Regressor) -> None:
        """Wrap ``model``; choose the numpy path if it reproduces ``model.predict``."""
        self.model = model
        self.steps = self._numpy_steps(model)

    @property
    def fast(self) -> bool:
        """Whether predictions skip the DataFrame."""
        return self.steps is not None

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Predict from a matrix of the raw columns (``RAW_FEATURES`` order).

        Returns:
            float64 predictions, one per row.
        """
        if self.steps is None:
            frame = pd.DataFrame(features, columns=RAW_FEATURES, copy=False)
            return np.asarray(self.model.predict(frame), dtype="float64").reshape(-1)
        data: Any = features
        for step in self.steps[:-1]:
            data = step.transform(data)
        return np.asarray(self.steps[-1].predict(data), dtype="float64").reshape(-1)

    @staticmethod
    def _numpy_steps(model: Any) -> list[Any] | None:
        steps = [step for _, step in getattr(model, "steps", [])]
        first = steps[0] if steps else None
        if first is None or list(getattr(first, "feature_names_in_", [])) != RAW_FEATURES:
            return None
        rows = reference_rows()
        expected = np.asarray(
            model.predict(pd.DataFrame(rows, columns=RAW_FEATURES)), dtype="float64"
        ).reshape(-1)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # e.g. "X does not have valid feature names"
                data: Any = rows
                for step in steps[:-1]:
                    data = step.transform(data)
                got = np.asarray(steps[-1].predict(data), dtype="float64").reshape(-1)
        except Exception:
            return None
        return steps if np.array_equal(got, expected) else None


def feature_matrix(rows: pd.DataFrame) -> np.ndarray:
    """The eight raw feature columns of validated rows as a C-ordered float64 matrix.

    Args:
        rows: Validated rows holding (at least) ``RAW_FEATURES``.

    Returns:
        Array of shape ``(len(rows), 8)``, columns in ``RAW_FEATURES`` order.
    """
    return np.ascontiguousarray(rows[RAW_FEATURES].to_numpy(dtype="float64"))


def score(
    model: Regressor, features: np.ndarray, filters: Mapping[str, Mapping[str, Any]] | None
) -> Scores:
    """Predict a batch and flag the rows outside the model's training domain.

    Args:
        model: Fitted model taking a DataFrame of the eight raw columns, or that model
            wrapped once in a :class:`MatrixModel` (the API wraps it when it loads it).
        features: Float matrix from :func:`feature_matrix` (or the API's parser).
        filters: The filters of the data version the model was trained on.

    Returns:
        Predictions (float64) and per-row domain violations.

    Raises:
        ValueError: When ``features`` is not a 2-D matrix of the eight raw columns, or the
            filters are invalid.
    """
    if features.ndim != 2 or features.shape[1] != len(RAW_FEATURES):
        raise ValueError(
            f"Expected a matrix of the {len(RAW_FEATURES)} raw columns {RAW_FEATURES}, "
            f"got shape {features.shape}."
        )
    violations = domain_violations(features, filters)
    matrix_model = model if isinstance(model, MatrixModel) else MatrixModel(model)
    return Scores(predictions=matrix_model.predict(features), violations=violations)
