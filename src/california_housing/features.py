"""Row-wise feature engineering, shared by training and prediction.

Every engineered feature is a deterministic function of one raw row, so computing it
before the train/test split leaks nothing. The same functions run inside every logged
model (:class:`FeatureEngineer` is the first step of its sklearn ``Pipeline``), so a
model takes the eight raw columns and cannot drift from how its training data was built.

A new feature is one function registered in :data:`FEATURES`; a data version picks
features by name in ``conf/base/parameters_data_processing.yml``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

#: Upper bin edges of ``income_category_encoded`` (MedInc, tens of thousands of dollars).
INCOME_BINS: tuple[float, ...] = (0.0, 2.5, 4.5, 6.5, np.inf)


def rooms_per_household(frame: pd.DataFrame) -> pd.Series:
    """Rooms per household, ``AveRooms * AveOccup`` (the seed recipe's definition)."""
    return frame["AveRooms"] * frame["AveOccup"]


def bedrooms_ratio(frame: pd.DataFrame) -> pd.Series:
    """Share of rooms that are bedrooms, ``AveBedrms / AveRooms``."""
    return frame["AveBedrms"] / frame["AveRooms"]


def population_density(frame: pd.DataFrame) -> pd.Series:
    """Households in the block group, ``Population / AveOccup``."""
    return frame["Population"] / frame["AveOccup"]


def income_category_encoded(frame: pd.DataFrame) -> pd.Series:
    """MedInc binned at 0, 2.5, 4.5, 6.5, inf and encoded 0..3 (right-closed bins)."""
    codes = pd.cut(frame["MedInc"], bins=list(INCOME_BINS), labels=False, right=True)
    return codes.astype("float64")  # float: MLflow schemas treat int columns as NaN-free


#: Feature name -> function of a raw frame. Versions refer to features by these names.
FEATURES: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    "rooms_per_household": rooms_per_household,
    "bedrooms_ratio": bedrooms_ratio,
    "population_density": population_density,
    "income_category_encoded": income_category_encoded,
}


def check_feature_names(names: Sequence[str]) -> None:
    """Fail early on a feature name that has no function.

    Args:
        names: Feature names, as written in configuration.

    Raises:
        ValueError: Naming each unknown feature and listing the known ones.
    """
    unknown = [name for name in names if name not in FEATURES]
    if unknown:
        raise ValueError(
            f"Unknown feature(s) {unknown}. Known features: {sorted(FEATURES)}. "
            "Add a function to california_housing.features.FEATURES or fix the name in "
            "parameters_data_processing.yml."
        )


def add_features(frame: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Append engineered features to a raw frame.

    Args:
        frame: Rows with (at least) the raw feature columns. Not modified.
        names: Features to add, in order.

    Returns:
        A new frame: the input columns followed by one column per feature.
    """
    check_feature_names(names)
    return frame.assign(**{name: FEATURES[name](frame) for name in names})


class FeatureEngineer(TransformerMixin, BaseEstimator):
    """sklearn transformer that adds engineered features to the raw columns.

    Args:
        features: Names of the features to add (keys of :data:`FEATURES`).
    """

    def __init__(self, features: Sequence[str] = ()) -> None:
        """Store the parameters, as sklearn estimators do."""
        self.features = features

    def fit(self, X: pd.DataFrame, y: object = None) -> FeatureEngineer:
        """Check the feature names and remember the input columns.

        Args:
            X: Raw feature frame.
            y: Ignored.

        Returns:
            The transformer itself.
        """
        check_feature_names(list(self.features))
        self.feature_names_in_ = np.asarray(list(X.columns), dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        return self

    def transform(self, X: pd.DataFrame | np.ndarray) -> pd.DataFrame | np.ndarray:
        """Add the features to ``X`` (columns ordered as in ``fit``).

        Args:
            X: Raw feature frame with the columns seen in ``fit``, or a float matrix whose
                columns are those, in that order (the serving API's one-row fast path).

        Returns:
            ``X`` with the engineered columns appended (a matrix for a matrix).

        Raises:
            ValueError: Naming the frame's columns that do not hold numbers (a served
                model's signature accepts any type, so that integer columns pass).
        """
        if isinstance(X, np.ndarray):
            if X.ndim != 2 or X.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"Expected a matrix of {self.n_features_in_} columns "
                    f"{list(self.feature_names_in_)}, got shape {X.shape}."
                )
            columns = dict(zip(self.feature_names_in_, X.T, strict=True))
            added = [np.asarray(FEATURES[name](columns), dtype="float64") for name in self.features]
            return np.column_stack([X, *added]) if added else X
        X = X[list(self.feature_names_in_)]
        not_numbers = {
            c: str(t) for c, t in X.dtypes.items() if not pd.api.types.is_numeric_dtype(t)
        }
        if not_numbers:
            raise ValueError(f"These columns must hold numbers: {not_numbers} (column: dtype).")
        return add_features(X, list(self.features))

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """Names of the output columns (raw columns, then features)."""
        return np.asarray([*self.feature_names_in_, *self.features], dtype=object)
