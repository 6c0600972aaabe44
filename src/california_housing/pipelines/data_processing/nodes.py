"""Nodes of the data_processing pipeline: pure functions of their inputs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from sklearn.model_selection import train_test_split

from california_housing import schema
from california_housing.features import add_features, check_feature_names
from california_housing.filters import row_mask

ROW_ID = "row_id"


def validate_raw(raw: pd.DataFrame) -> pd.DataFrame:
    """Validate the raw frame against the project's schema and name its rows.

    Args:
        raw: The frame from the raw dataset.

    Returns:
        A validated copy, float64 columns, indexed by ``row_id`` (0..n-1 in source order).

    Raises:
        RawDataValidationError: Listing every failing column and check.
    """
    validated = schema.validate(raw, with_target=True)
    validated.index = pd.RangeIndex(len(validated), name=ROW_ID)
    return validated


def assign_split(validated: pd.DataFrame, test_size: float, seed: int) -> pd.DataFrame:
    """Assign every raw row to train or test, once, before any version is built.

    Every version takes its train and test rows from this one assignment, so each
    version's test rows are a subset of the unfiltered version's test rows.

    Args:
        validated: The validated raw frame (index ``row_id``).
        test_size: Fraction of rows held out, in (0, 1).
        seed: Random seed of the shuffle.

    Returns:
        A frame indexed by ``row_id`` with one column ``split`` ("train" or "test").
    """
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"split.test_size must be in (0, 1), got {test_size!r}.")
    _, test_ids = train_test_split(
        validated.index.to_numpy(), test_size=test_size, random_state=seed
    )
    split = pd.Series("train", index=validated.index, name="split")
    split.loc[test_ids] = "test"
    return split.to_frame()


def build_version(validated: pd.DataFrame, version: Mapping[str, Any]) -> pd.DataFrame:
    """Build one data version: keep the rows its filters allow, add its features.

    Args:
        validated: The validated raw frame (index ``row_id``).
        version: ``{"filters": {column: {op: value}}, "features": [name, ...]}``,
            one entry of ``versions`` in ``parameters_data_processing.yml``.

    Returns:
        The version's rows: raw features, engineered features, then the target.
    """
    features = list(version.get("features") or [])
    check_feature_names(features)
    kept = validated.loc[row_mask(validated, version.get("filters") or {})]
    if kept.empty:
        raise ValueError(f"Version filters {dict(version.get('filters') or {})} keep no rows.")
    built = add_features(kept[schema.RAW_FEATURES], features)
    return built.assign(**{schema.TARGET: kept[schema.TARGET]})


def split_version(
    model_input: pd.DataFrame, split: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cut a version into its train and test parts by the shared split.

    Args:
        model_input: The version's rows (index ``row_id``).
        split: The shared assignment from :func:`assign_split`.

    Returns:
        The train rows and the test rows, both indexed by ``row_id``.
    """
    side = split["split"].reindex(model_input.index)
    if side.isna().any():
        raise ValueError(
            "Some rows of the version have no split assignment; rerun data_processing."
        )
    return model_input.loc[side == "train"], model_input.loc[side == "test"]


def common_holdout(
    validated: pd.DataFrame, split: pd.DataFrame, versions: Mapping[str, Mapping[str, Any]]
) -> pd.DataFrame:
    """Test rows that every data version contains: the fair ground for comparisons.

    Filtered versions have easier test sets, so candidates of different versions are
    compared on these rows only: the shared test rows that pass every version's filters
    (features add columns, never drop rows), i.e. the intersection of the versions' test
    splits.

    Args:
        validated: The validated raw frame (index ``row_id``).
        split: The shared assignment from :func:`assign_split`.
        versions: The ``versions`` parameters.

    Returns:
        A one-column frame of the shared ``row_id`` values, sorted.
    """
    keep = split["split"].reindex(validated.index) == "test"
    for version in versions.values():
        keep &= row_mask(validated, version.get("filters") or {})
    if not keep.any():
        raise ValueError("The data versions share no test rows; loosen a version's filters.")
    return pd.DataFrame({ROW_ID: validated.index[keep].sort_values().to_numpy()})
