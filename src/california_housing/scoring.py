"""Scoring rows with a model: the one function behind batch inference and the serving API.

Both the ``inference`` pipeline and ``kedro serve`` turn validated rows into a float matrix
of the eight raw columns (:func:`feature_matrix` or the API's own parser), then call
:func:`score`, so the same rows get the same predictions and the same domain flags in both.
"""

from __future__ import annotations

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

    The model receives the matrix as a frame with the raw column names, which is what it
    was fitted on (its own feature step adds the engineered columns).

    Args:
        model: Fitted model taking the eight raw columns.
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
    frame = pd.DataFrame(features, columns=RAW_FEATURES, copy=False)
    predictions = np.asarray(model.predict(frame), dtype="float64").reshape(-1)
    return Scores(predictions=predictions, violations=violations)
