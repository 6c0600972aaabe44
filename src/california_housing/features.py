"""Feature engineering, shared by training and prediction.

Every engineered feature in :data:`FEATURES` is a deterministic function of one raw row, so
computing it before the train/test split leaks nothing. The same functions run inside every
logged model (:class:`FeatureEngineer` is the first step of its sklearn ``Pipeline``), so a
model takes the eight raw columns and cannot drift from how its training data was built. A
new feature is one function in :data:`FEATURES`; a data version picks features by name in
``conf/base/parameters_data_processing.yml``. Neighbourhood features depend on other rows'
targets: :class:`NeighbourhoodFeatures` is a fitted step of the model itself, learnt from
the train split only. This module imports nothing else of the project: a registered model
carries it as its code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.model_selection import KFold
from sklearn.neighbors import KDTree

#: Upper bin edges of ``income_category_encoded`` (MedInc, tens of thousands of dollars).
INCOME_BINS: tuple[float, ...] = (0.0, 2.5, 4.5, 6.5, np.inf)

#: The main metropolitan centres of California (latitude, longitude of each city hall).
METRO_CENTRES: dict[str, tuple[float, float]] = {
    "los_angeles": (34.0537, -118.2428),
    "san_francisco": (37.7793, -122.4193),
    "san_diego": (32.7157, -117.1611),
    "san_jose": (37.3382, -121.8863),
    "sacramento": (38.5816, -121.4944),
}

#: Angles (degrees from east, counter-clockwise) of the rotated coordinate axes.
ROTATIONS: tuple[int, ...] = (15, 30, 45, 60)

EARTH_RADIUS_KM = 6371.0088

#: A frame, or the raw columns of a matrix by name (the fast path of :class:`FeatureEngineer`).
Columns = pd.DataFrame | Mapping[str, Any]


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


def unit_vectors(latitude: Any, longitude: Any) -> np.ndarray:
    """Points on the unit sphere, one row ``(x, y, z)`` per coordinate pair (degrees).

    Straight-line distances between these points order places exactly as great-circle
    distances do, so a k-d tree over them finds the nearest places on the globe.
    """
    lat, lon = np.radians(np.asarray(latitude, float)), np.radians(np.asarray(longitude, float))
    return np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def chord_to_km(chord: np.ndarray) -> np.ndarray:
    """Great-circle distance in km from the straight-line distance of two unit vectors."""
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.clip(chord / 2.0, 0.0, 1.0))


def _distance_to(centre: tuple[float, float]) -> Callable[[Columns], np.ndarray]:
    target = unit_vectors([centre[0]], [centre[1]])

    def distance(frame: Columns) -> np.ndarray:
        points = unit_vectors(frame["Latitude"], frame["Longitude"])
        return chord_to_km(np.linalg.norm(points - target, axis=1))

    distance.__doc__ = f"Great-circle distance in km to {centre} (latitude, longitude)."
    return distance


def _rotated(degrees: int) -> Callable[[Columns], Any]:
    angle = np.radians(degrees)

    def rotated(frame: Columns) -> Any:
        return frame["Longitude"] * np.cos(angle) + frame["Latitude"] * np.sin(angle)

    rotated.__doc__ = f"The coordinate along an axis turned {degrees} degrees from east."
    return rotated


#: Feature name -> function of a raw frame. Versions refer to features by these names.
FEATURES: dict[str, Callable[[Columns], Any]] = {
    "rooms_per_household": rooms_per_household,
    "bedrooms_ratio": bedrooms_ratio,
    "population_density": population_density,
    "income_category_encoded": income_category_encoded,
    **{f"distance_to_{name}": _distance_to(centre) for name, centre in METRO_CENTRES.items()},
    **{f"rotated_{degrees}": _rotated(degrees) for degrees in ROTATIONS},
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


def _check_matrix(X: np.ndarray, columns: np.ndarray) -> None:
    """Fail on a matrix that does not hold one column per fitted input column."""
    if X.ndim != 2 or X.shape[1] != len(columns):
        raise ValueError(
            f"Expected a matrix of {len(columns)} columns {list(columns)}, got shape {X.shape}."
        )


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
            _check_matrix(X, self.feature_names_in_)
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


class NeighbourhoodFeatures(TransformerMixin, BaseEstimator):
    """Target statistics of the nearest training block groups: a fitted model step.

    For each row: the mean and the median target of its ``k`` nearest training rows (by
    great-circle distance between coordinates), their mean distance in km, and the mean
    target of its ``k_wide`` nearest (a wider neighbourhood). ``fit`` keeps the training
    rows' coordinates and targets, and ``transform`` looks new rows up in them.
    ``fit_transform`` (what a ``Pipeline`` calls while fitting) cross-fits, as sklearn's
    ``TargetEncoder`` does: each of ``folds`` folds gets its statistics from an index of the
    other folds, so a training row never sees its own target.

    Args:
        k: Neighbours per row.
        k_wide: Neighbours of the wider neighbourhood (at least ``k``).
        folds: Folds of the cross-fitting.
        random_state: Seed of the folds' shuffle.
    """

    #: Names of the appended columns, in order.
    OUTPUTS: tuple[str, ...] = (
        "neighbours_target_mean",
        "neighbours_target_median",
        "neighbours_distance_km",
        "wide_neighbours_target_mean",
    )

    def __init__(
        self, k: int = 10, k_wide: int = 30, folds: int = 5, random_state: int | None = 0
    ) -> None:
        """Store the parameters, as sklearn estimators do."""
        self.k = k
        self.k_wide = k_wide
        self.folds = folds
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: Any) -> NeighbourhoodFeatures:
        """Index the training rows' coordinates and keep their targets.

        Args:
            X: Training rows, with ``Latitude`` and ``Longitude`` among the columns.
            y: Their targets.

        Returns:
            The transformer itself.

        Raises:
            ValueError: When the coordinates or targets are missing, or there are no
                more than ``k`` rows per cross-fitting fold.
        """
        if y is None:
            raise ValueError("NeighbourhoodFeatures needs the targets: fit(X, y).")
        names = list(X.columns)
        missing = {"Latitude", "Longitude"} - set(names)
        if missing:
            raise ValueError(f"NeighbourhoodFeatures needs columns {sorted(missing)}; got {names}.")
        if not 1 <= self.k <= self.k_wide:
            raise ValueError(
                f"NeighbourhoodFeatures needs 1 <= k <= k_wide, got {self.k}, {self.k_wide}."
            )
        if self.folds < 2 or len(X) * (self.folds - 1) // self.folds <= self.k_wide:
            raise ValueError(
                f"NeighbourhoodFeatures(k_wide={self.k_wide}, folds={self.folds}) needs folds >= 2 "
                f"and more than k_wide rows in folds - 1 folds; got {len(X)} rows."
            )
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        self.points_ = unit_vectors(X["Latitude"], X["Longitude"])
        self.targets_ = np.asarray(y, dtype="float64")
        self.tree_ = KDTree(self.points_)
        return self

    def transform(self, X: pd.DataFrame | np.ndarray) -> pd.DataFrame | np.ndarray:
        """Append the statistics of each row's ``k`` nearest training rows.

        Args:
            X: Rows with the columns seen in ``fit``: a frame, or a float matrix of those
                columns in that order (the serving API's fast path).

        Returns:
            ``X`` with :data:`OUTPUTS` appended (a matrix for a matrix).
        """
        distances, indices = self.tree_.query(self._points(X), k=self.k_wide)
        return self._append(X, self._statistics(self.targets_[indices], distances))

    def fit_transform(self, X: pd.DataFrame, y: Any = None, **fit_params: Any) -> pd.DataFrame:
        """Fit on the training rows and give them cross-fitted statistics.

        Args:
            X: Training rows (see :meth:`fit`).
            y: Their targets.
            **fit_params: Ignored.

        Returns:
            ``X`` with :data:`OUTPUTS` appended, each row's from the other folds only.
        """
        self.fit(X, y)
        stats = np.empty((len(X), len(self.OUTPUTS)))
        cut = KFold(self.folds, shuffle=True, random_state=self.random_state)
        for others, fold in cut.split(self.points_):
            index = KDTree(self.points_[others])
            distances, indices = index.query(self.points_[fold], k=self.k_wide)
            stats[fold] = self._statistics(self.targets_[others][indices], distances)
        return self._append(X, stats)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """Names of the output columns (input columns, then :data:`OUTPUTS`)."""
        return np.asarray([*self.feature_names_in_, *self.OUTPUTS], dtype=object)

    def __getstate__(self) -> dict[str, Any]:
        """The state without the k-d tree, which is rebuilt from ``points_`` on load."""
        state = dict(super().__getstate__())  # a copy: the fitted object keeps its tree
        state.pop("tree_", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore the state (pickle, joblib or skops) and rebuild the k-d tree."""
        super().__setstate__(state)
        if "points_" in state:
            self.tree_ = KDTree(self.points_)

    def _points(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        if isinstance(X, np.ndarray):
            _check_matrix(X, self.feature_names_in_)
            names = list(self.feature_names_in_)
            return unit_vectors(X[:, names.index("Latitude")], X[:, names.index("Longitude")])
        return unit_vectors(X["Latitude"], X["Longitude"])

    def _statistics(self, targets: np.ndarray, chords: np.ndarray) -> np.ndarray:
        """The statistics of each row's neighbours, nearest first (``k_wide`` of them)."""
        near, km = targets[:, : self.k], chord_to_km(chords[:, : self.k])
        return np.column_stack(
            [near.mean(axis=1), np.median(near, axis=1), km.mean(axis=1), targets.mean(axis=1)]
        )

    def _append(self, X: pd.DataFrame | np.ndarray, stats: np.ndarray) -> Any:
        if isinstance(X, np.ndarray):
            return np.column_stack([X, stats])
        return X.assign(**dict(zip(self.OUTPUTS, stats.T, strict=True)))
