"""Nodes of the inference pipeline: validate new rows, score them, flag the unusual."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from california_housing import schema
from california_housing.scoring import feature_matrix, score


def validate_rows(rows: pd.DataFrame, id_column: str) -> pd.DataFrame:
    """Check new rows against the raw schema before anything is scored.

    Args:
        rows: New rows: the 8 raw feature columns, optionally an id column.
        id_column: Name of the id column; when absent, row numbers are the ids.

    Returns:
        The validated features (float64) indexed by id.

    Raises:
        RawDataValidationError: Naming every failing column and check; nothing is scored.
    """
    ids = rows[id_column] if id_column in rows else pd.RangeIndex(len(rows))
    if pd.Index(ids).has_duplicates:
        raise ValueError(f"Column {id_column!r} has duplicate ids; each row needs its own id.")
    validated = schema.validate(
        rows[[c for c in rows.columns if c != id_column]], with_target=False
    )
    validated.index = pd.Index(ids, name=id_column)
    return validated[schema.RAW_FEATURES]


def score_rows(
    rows: pd.DataFrame,
    champion: Mapping[str, Any],
    versions: Mapping[str, Mapping[str, Any]],
) -> pd.DataFrame:
    """Predict with the champion and record which model made each prediction.

    Scoring and the domain flags are :func:`california_housing.scoring.score`, the function
    the serving API calls, so both give the same answers for the same rows.

    Args:
        rows: Output of :func:`validate_rows`.
        champion: The registry's champion: its ``model`` (takes the 8 raw columns),
            name, version, candidate and data version.
        versions: The ``versions`` parameters (the champion's filters are its domain).

    Returns:
        One row per input id: the prediction, the domain flag and its reasons, and the
        registered model name, version and candidate.

    Raises:
        ValueError: When there is no champion to score with.
    """
    if not champion:
        raise ValueError(
            "The registry has no champion yet: run `kedro run` (or the data_science and "
            "reporting pipelines) to train and promote one."
        )
    version = versions.get(champion.get("data_version", ""), {})
    scores = score(champion["model"], feature_matrix(rows), version.get("filters") or {})
    return pd.DataFrame(
        {
            schema.PREDICTION: scores.predictions,
            "out_of_domain": scores.out_of_domain,
            # a CSV cell: the broken rules joined with "; " ("" inside the domain)
            "domain_violations": ["; ".join(v) for v in scores.violations],
            "model_name": champion["name"],
            "model_version": champion["version"],
            "candidate": champion.get("candidate", ""),
        },
        index=rows.index,
    ).reset_index()
