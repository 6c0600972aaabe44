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


def population_test_rows(
    validated: pd.DataFrame, split: pd.DataFrame, population: Mapping[str, Any]
) -> pd.DataFrame:
    """Test rows of the population the service answers for: what the promotion gate ranks on.

    The one shared split's test rows that the population's filters keep (all 4,128 for the
    whole state). A candidate is scored on them whatever its data version kept; only
    candidates whose version keeps every row of the population can be promoted.

    Args:
        validated: The validated raw frame (index ``row_id``).
        split: The shared assignment from :func:`assign_split`.
        population: ``{"filters": {column: {op: value}}, "description": ...}``.

    Returns:
        Those rows (raw features and target), indexed by ``row_id``.
    """
    keep = split["split"].reindex(validated.index).eq("test")
    keep &= row_mask(validated, population.get("filters") or {})
    if not keep.any():
        raise ValueError(
            f"The served population ({population.get('description', 'population')}, filters "
            f"{dict(population.get('filters') or {})}) has no test rows; fix `population` "
            "in parameters_data_processing.yml."
        )
    return validated.loc[keep, [*schema.RAW_FEATURES, schema.TARGET]]


def population_coverage(
    validated: pd.DataFrame,
    versions: Mapping[str, Mapping[str, Any]],
    population: Mapping[str, Any],
) -> dict[str, Any]:
    """Which data versions cover the served population: the promotion gate's eligibility.

    A version covers the population when its filters keep every row the population's
    filters keep: a model trained on it has seen the whole domain it will answer for. Checked
    on the data itself, so a filter on the target (``MedHouseVal <= 5.0``) counts as well.

    Args:
        validated: The validated raw frame.
        versions: The ``versions`` parameters.
        population: The ``population`` parameters (``filters``, ``description``).

    Returns:
        ``description``, ``filters`` and ``rows`` of the population, and per version
        ``covers`` and ``rows_kept`` (of the population's rows).

    Raises:
        ValueError: When no version covers the population (nothing could be promoted).
    """
    in_population = row_mask(validated, population.get("filters") or {})
    covered = {
        name: int((in_population & row_mask(validated, spec.get("filters") or {})).sum())
        for name, spec in versions.items()
    }
    rows = int(in_population.sum())
    if not any(kept == rows for kept in covered.values()):
        raise ValueError(
            f"No data version covers the served population ({population.get('description')}: "
            f"{rows:,} rows; kept by each version: {covered}), so no candidate could be "
            "promoted. Add a version whose filters keep all of it, or narrow `population` "
            "(parameters_data_processing.yml)."
        )
    return {
        "description": str(population.get("description") or "the served population"),
        "filters": dict(population.get("filters") or {}),
        "rows": rows,
        "versions": {
            name: {"covers": kept == rows, "rows_kept": kept} for name, kept in covered.items()
        },
    }
