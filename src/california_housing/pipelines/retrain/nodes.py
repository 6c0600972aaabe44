"""Nodes of the retrain pipeline: the feedback source, the extended split, the summary."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from california_housing import schema
from california_housing.pipelines.data_processing.nodes import assign_split
from california_housing.places import at_places
from california_housing.schema import RAW_FEATURES, TARGET

#: Columns kept with each feedback row, for provenance.
PROVENANCE = ["prediction_id", "model_version", "created_at", "received_at"]


def prepare_feedback_source(
    labelled: pd.DataFrame, raw: pd.DataFrame, split: Mapping[str, Any], min_rows: int
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Turn the labelled rows of the prediction log into a validated raw source.

    Only predictions that received feedback are labelled (the query joins the two
    tables). Every row must pass the one raw schema (features and target): a corrupted
    row stops the run here, before anything is written. Then two kinds of rows are refused
    (counted, not added):

    - rows at the place of a test row of the one shared split (``california_housing.places``):
      a later observation of a held-out block group would teach the next model the
      holdout's answers, and the gate would see the gain as skill;
    - rows whose 8 features equal a raw row's, or an earlier feedback row's: duplicates.

    Args:
        labelled: ``prediction_id``, ``model_version``, ``created_at``, the 8 features,
            ``MedHouseVal`` and ``received_at`` of every prediction with feedback.
        raw: The raw data (8 features + target), in source order.
        split: The ``split`` parameters (``test_size``, ``seed``, ``place_resolution``).
        min_rows: Fewest new rows worth retraining for.

    Returns:
        The new rows (provenance columns, features, target; oldest feedback first) and a
        provenance summary (counts, prediction id range, time span).

    Raises:
        RawDataValidationError: When a feedback row fails the raw schema.
        ValueError: When prediction ids repeat, or fewer than ``min_rows`` rows are new.
    """
    if labelled["prediction_id"].duplicated().any():
        repeated = labelled.loc[labelled["prediction_id"].duplicated(), "prediction_id"]
        raise ValueError(f"Feedback repeats prediction ids {repeated.head(3).tolist()}.")
    try:
        checked = schema.validate(labelled[[*RAW_FEATURES, TARGET]], with_target=True)
    except schema.RawDataValidationError as exc:
        raise schema.RawDataValidationError(
            f"Feedback rows of the prediction log failed the raw schema; nothing was "
            f"retrained or written. Fix or delete these feedback rows.\n{exc}"
        ) from None
    rows = labelled[PROVENANCE].join(checked).sort_values(["received_at", "prediction_id"])
    numbered = raw.reset_index(drop=True)
    sides = assign_split(numbered, split["test_size"], split["seed"])["split"]
    test_place = at_places(rows, numbered[sides.eq("test")], split["place_resolution"])
    known = pd.MultiIndex.from_frame(raw[RAW_FEATURES].astype(float))
    features = pd.MultiIndex.from_frame(rows[RAW_FEATURES])
    duplicate = ~test_place & (features.isin(known) | features.duplicated())
    new = rows[~test_place & ~duplicate].reset_index(drop=True)
    provenance = {
        "labelled_rows": len(labelled),
        "refused_test_places": int(test_place.sum()),
        "refused_duplicates": int(duplicate.sum()),
        "added_rows": len(new),
        "first_received_at": str(new["received_at"].min()) if len(new) else None,
        "last_received_at": str(new["received_at"].max()) if len(new) else None,
        "model_versions": sorted({int(v) for v in new["model_version"]}),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if len(new) < min_rows:
        raise ValueError(
            f"{len(new)} new labelled row(s) in the prediction log ({provenance['labelled_rows']}"
            f" with feedback: {provenance['refused_test_places']} refused at test places, "
            f"{provenance['refused_duplicates']} as duplicates of known rows); "
            f"retrain.min_feedback_rows is {min_rows}. Post feedback for more predictions "
            "first (POST /feedback), or retrain on the raw data with `kedro run`."
        )
    return new, provenance


def append_feedback(raw: pd.DataFrame, feedback_source: pd.DataFrame) -> pd.DataFrame:
    """The raw data followed by the feedback rows (which get the next row ids).

    Args:
        raw: The raw data.
        feedback_source: Output of :func:`prepare_feedback_source`.

    Returns:
        One frame of the 9 raw columns; ``validate_raw`` checks it and numbers its rows.
    """
    columns = [*RAW_FEATURES, TARGET]
    return pd.concat([raw[columns], feedback_source[columns]], ignore_index=True)


def extend_split(
    validated: pd.DataFrame, feedback_source: pd.DataFrame, test_size: float, seed: int
) -> pd.DataFrame:
    """The one split of the raw rows, unchanged, with every feedback row in train.

    The raw rows get exactly the assignment ``assign_split`` gives them without feedback,
    so the test splits and the common holdout stay the same rows and the promotion gate
    compares the champion and the retrained candidates on the same ground.

    Args:
        validated: The validated raw + feedback frame (feedback rows last).
        feedback_source: The feedback rows.
        test_size: ``split.test_size``.
        seed: ``split.seed``.

    Returns:
        The split assignment of every row (index ``row_id``, column ``split``).
    """
    n_raw = len(validated) - len(feedback_source)
    split = assign_split(validated.iloc[:n_raw], test_size, seed)
    added = pd.DataFrame({"split": "train"}, index=validated.index[n_raw:])
    return pd.concat([split, added])


def summarise_retraining(
    provenance: Mapping[str, Any], decision: Mapping[str, Any]
) -> tuple[dict[str, Any], str, dict[str, dict[str, float]]]:
    """What the retraining added and what the promotion gate decided.

    Args:
        provenance: From :func:`prepare_feedback_source`.
        decision: The promotion decision of the reporting pipeline.

    Returns:
        The summary (JSON), a short Markdown report, and metrics for MLflow.
    """
    summary = {"feedback": dict(provenance), "promotion": dict(decision)}
    verdict = (
        f"promoted `{decision.get('candidate')}` as the new champion"
        if decision.get("promote")
        else "kept the current champion"
    )
    text = (
        "# Retraining\n\n"
        f"Feedback rows added to the raw data: **{provenance['added_rows']}** "
        f"(of {provenance['labelled_rows']} labelled; refused: "
        f"{provenance['refused_test_places']} at the places of test rows, which no model may "
        f"learn from, and {provenance['refused_duplicates']} duplicates of known rows), "
        f"received {provenance['first_received_at']} to "
        f"{provenance['last_received_at']}, predicted by model version(s) "
        f"{provenance['model_versions']}.\n\n"
        f"The promotion gate {verdict}: {decision.get('reason', '')}\n"
    )
    metrics = {
        name: {"value": float(value), "step": 0}
        for name, value in {
            "feedback_rows_added": provenance["added_rows"],
            "feedback_rows_refused": provenance["refused_duplicates"]
            + provenance["refused_test_places"],
            "feedback_rows_at_test_places": provenance["refused_test_places"],
            "promoted": bool(decision.get("promote")),
        }.items()
    }
    return summary, text, metrics
