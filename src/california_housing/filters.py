"""Data-version filters: the one implementation used to build versions and to flag new rows.

A version's filters (``{column: {op: value}}`` in ``parameters_data_processing.yml``) decide
which raw rows it keeps (``data_processing``) and, for a model trained on that version, which
new rows lie outside its training domain (batch ``inference`` and the serving API). Both read
the rules through :func:`check_filters`, so a typo in a column or an operator fails the same way
everywhere, naming it.

Rules on the target cannot be checked on rows to score (they have no target yet): those rows
are checked against the rules on feature columns only.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from california_housing.schema import RAW_FEATURES, TARGET

#: Comparison operators a version filter may use: ``{column: {op: value}}``.
FILTER_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
    "eq": operator.eq,
    "ne": operator.ne,
}

#: Columns a filter may name: the raw features and the target.
FILTER_COLUMNS: tuple[str, ...] = (*RAW_FEATURES, TARGET)

Rule = tuple[str, str, float]


def check_filters(filters: Mapping[str, Mapping[str, Any]] | None) -> list[Rule]:
    """Check a version's filters and list them as rules.

    Args:
        filters: ``{column: {op: value}}``; ``None`` or ``{}`` keep every row.

    Returns:
        ``(column, op, value)`` per rule, in configuration order.

    Raises:
        ValueError: Naming an unknown column, an unknown operator or a non-numeric value.
    """
    rules: list[Rule] = []
    for column, conditions in (filters or {}).items():
        if column not in FILTER_COLUMNS:
            raise ValueError(
                f"Filter on unknown column {column!r}; filters may name {list(FILTER_COLUMNS)}. "
                "Fix the version's filters in parameters_data_processing.yml."
            )
        for op, value in (conditions or {}).items():
            if op not in FILTER_OPS:
                raise ValueError(
                    f"Filter {column}.{op}: unknown operator {op!r}; use one of "
                    f"{sorted(FILTER_OPS)}."
                )
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"Filter {column}.{op}: value must be a number, got {value!r}.")
            rules.append((column, op, float(value)))
    return rules


def row_mask(frame: pd.DataFrame, filters: Mapping[str, Mapping[str, Any]] | None) -> pd.Series:
    """Which rows of a raw frame a version keeps.

    Args:
        frame: Raw rows holding every column the filters name (target included).
        filters: The version's filters.

    Returns:
        A boolean Series aligned with ``frame``: True where every rule holds.

    Raises:
        ValueError: As :func:`check_filters`, or when ``frame`` lacks a filtered column.
    """
    mask = pd.Series(True, index=frame.index)
    for column, op, value in check_filters(filters):
        if column not in frame.columns:
            raise ValueError(
                f"Filter on column {column!r}, which the frame lacks; columns are "
                f"{list(frame.columns)}."
            )
        mask &= FILTER_OPS[op](frame[column], value)
    return mask


def rule_text(rule: Rule) -> str:
    """A rule as users read it in flags: ``"Longitude lt -119.0"``."""
    column, op, value = rule
    return f"{column} {op} {value}"


def domain_violations(
    features: np.ndarray, filters: Mapping[str, Mapping[str, Any]] | None
) -> list[list[str]]:
    """Which of a version's rules each row to score breaks.

    A model trained on a filtered version never saw rows outside its filters (v2/v3:
    ``Longitude < -119.0``); such rows are flagged. Rules on the target are not checkable on
    rows to score and are skipped.

    Args:
        features: 2-D float array, one row per row to score, columns in ``RAW_FEATURES`` order.
        filters: The version's filters.

    Returns:
        Per row, the broken rules as text (see :func:`rule_text`), in rule order; ``[]`` when
        the row is inside the domain.

    Raises:
        ValueError: As :func:`check_filters`.
    """
    violations: list[list[str]] = [[] for _ in range(len(features))]
    for rule in check_filters(filters):
        column, op, value = rule
        if column not in RAW_FEATURES:
            continue
        outside = ~FILTER_OPS[op](features[:, RAW_FEATURES.index(column)], value)
        if outside.any():
            text = rule_text(rule)
            for position in np.flatnonzero(outside):
                violations[position].append(text)
    return violations
