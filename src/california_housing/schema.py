"""The one schema of the raw California Housing columns.

Training (``data_processing``), batch scoring (``inference``) and any later serving layer
validate against the checks defined here, so "a valid row" means the same everywhere.

pandera is imported by the functions that validate, not with the module: every
``kedro`` command imports the column names (``kedro serve``'s CLI among them), and only
validation needs pandera (~0.3 s and ~30k objects that Python's collector would scan for
the rest of the process).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import pandera.pandas as pa

TARGET = "MedHouseVal"
#: A model's estimate of the target: the column batch inference writes, the field the service
#: answers and the column of its prediction log.
PREDICTION = f"predicted_{TARGET}"
#: Unit of the target (the median house value of a block group), and so of predictions,
#: RMSE and MAE.
TARGET_UNIT = "$100,000"

#: The eight raw feature columns, in the order scikit-learn's fetcher returns them.
RAW_FEATURES: list[str] = [
    "MedInc",
    "HouseAge",
    "AveRooms",
    "AveBedrms",
    "Population",
    "AveOccup",
    "Latitude",
    "Longitude",
]

#: A real row of the data (its first block group, in Berkeley): the API's example, the row
#: a model is tried on before it is served, the logged model's input example.
EXAMPLE_ROW: dict[str, float] = {
    "MedInc": 8.3252,
    "HouseAge": 41.0,
    "AveRooms": 6.984127,
    "AveBedrms": 1.02381,
    "Population": 322.0,
    "AveOccup": 2.555556,
    "Latitude": 37.88,
    "Longitude": -122.23,
}

#: Plausible ``(low, high)`` per column, checked as ``low < value <= high`` (``None``: no
#: bound): wide enough for any real block group in California, narrow enough to catch unit
#: mix-ups (income in dollars, longitude with the wrong sign, target in dollars). Every value
#: must also be a finite number. The serving API's request schema is derived from these.
RANGES: dict[str, tuple[float | None, float | None]] = {
    "MedInc": (0.0, 20.0),  # tens of thousands of dollars, strictly positive
    "HouseAge": (0.0, 100.0),
    "AveRooms": (0.0, None),
    "AveBedrms": (0.0, None),
    "Population": (0.0, None),
    "AveOccup": (0.0, None),
    "Latitude": (32.0, 42.5),  # California's southern and northern borders
    "Longitude": (-125.0, -114.0),  # California's western coast and eastern border
    TARGET: (0.0, 5.00001),  # hundreds of thousands of dollars; the census capped at 5.00001
}


class RawDataValidationError(ValueError):
    """Raised when a raw frame fails the schema; the message lists every failure."""


def _finite(values: pd.Series) -> pd.Series:
    return pd.Series(np.isfinite(values.to_numpy(dtype="float64")), index=values.index)


def _column(name: str) -> pa.Column:
    import pandera.pandas as pa  # noqa: PLC0415 (see the module docstring)

    low, high = RANGES[name]
    checks = [pa.Check(_finite, name="finite")]
    if low is not None:
        checks.append(pa.Check.gt(low))
    if high is not None:
        checks.append(pa.Check.le(high))
    return pa.Column(float, checks=checks, nullable=False, coerce=True)


def raw_schema(*, with_target: bool = True) -> pa.DataFrameSchema:
    """Build the schema of a raw frame.

    Args:
        with_target: Whether the target column is required (training data) or not
            (rows to score).

    Returns:
        A pandera schema that checks presence, numeric dtype, no missing values, finite
        values and plausible ranges of each column, and that the frame has at least one row.
    """
    import pandera.pandas as pa  # noqa: PLC0415 (see the module docstring)

    names = [*RAW_FEATURES, TARGET] if with_target else RAW_FEATURES
    return pa.DataFrameSchema(
        {name: _column(name) for name in names},
        checks=[pa.Check(lambda df: len(df) > 0, element_wise=False, error="at least one row")],
        name="california_housing_raw" if with_target else "california_housing_features",
    )


def validate(frame: pd.DataFrame, *, with_target: bool = True) -> pd.DataFrame:
    """Validate a raw frame, collecting every failure before raising.

    Args:
        frame: The frame to check. It is not modified.
        with_target: Whether the target column is required.

    Returns:
        A validated copy with every checked column as float64.

    Raises:
        RawDataValidationError: One error naming each failing column and check.
    """
    from pandera.errors import SchemaErrors  # noqa: PLC0415 (see the module docstring)

    try:
        return raw_schema(with_target=with_target).validate(frame.copy(), lazy=True)
    except SchemaErrors as exc:
        what, fix = (
            (
                "Raw California Housing data",
                "fix the source data (or point SCIKIT_LEARN_DATA at an intact cache)",
            )
            if with_target
            else ("Rows to score", "fix or drop these rows in the input file")
        )
        raise RawDataValidationError(_summarise(exc.failure_cases, what, fix)) from None


def _summarise(failures: pd.DataFrame, what: str, fix: str) -> str:
    # pandera reports frame-level failures under the schema's name: name the missing
    # column itself, and "<frame>" for checks on the whole frame (at least one row).
    frame_level = failures["schema_context"].eq("DataFrameSchema")
    missing = frame_level & failures["check"].astype(str).eq("column_in_dataframe")
    columns = failures["column"].mask(frame_level, "<frame>")
    columns = columns.mask(missing, failures["failure_case"])
    lines = []
    for (column, check), group in failures.groupby(
        [columns, failures["check"].astype(str)], sort=False
    ):
        examples = ", ".join(map(repr, group["failure_case"].head(3).tolist()))
        lines.append(
            f"  - column {column!r}: check {check} failed ({len(group)} x; e.g. {examples})"
        )
    return (
        f"{what} failed validation ({len(lines)} problem(s)):\n"
        + "\n".join(lines)
        + f"\nTo go on, {fix}; nothing downstream was written."
    )
