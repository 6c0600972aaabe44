"""Retrain nodes: the feedback source (schema, duplicates, provenance) and the split."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from california_housing.pipelines.data_processing.nodes import assign_split, validate_raw
from california_housing.pipelines.retrain.nodes import (
    append_feedback,
    extend_split,
    prepare_feedback_source,
    summarise_retraining,
)
from california_housing.places import at_places
from california_housing.schema import RAW_FEATURES, TARGET, RawDataValidationError

SPLIT = {"test_size": 0.2, "seed": 42, "place_resolution": 0.01}


def _sides(raw):
    """The raw rows of each side of the shared split; train rows only away from test places."""
    sides = assign_split(validate_raw(raw), SPLIT["test_size"], SPLIT["seed"])["split"]
    test = raw[sides.eq("test").to_numpy()]
    train = raw[sides.eq("train").to_numpy()]
    return train[~at_places(train, test, SPLIT["place_resolution"])], test


def _labelled(raw, n, *, shift=0.5, side="train"):
    """n labelled log rows: real rows of one side of the split with incomes shifted (so they
    are new rows, as later observations of those block groups)."""
    train, test = _sides(raw)
    source = train if side == "train" else test
    rows = source.iloc[:n][[*RAW_FEATURES, TARGET]].reset_index(drop=True)
    rows["MedInc"] = rows["MedInc"] + shift
    at = datetime(2026, 1, 2, tzinfo=UTC)
    return rows.assign(
        prediction_id=[f"p{i:04d}" for i in range(n)],
        model_version=3,
        created_at=[at + timedelta(seconds=i) for i in range(n)],
        received_at=[at + timedelta(seconds=60 + i) for i in range(n)],
    )


def test_feedback_rows_become_a_validated_source(small_raw):
    labelled = _labelled(small_raw, 20)
    before = labelled.copy()
    source, provenance = prepare_feedback_source(labelled, small_raw, SPLIT, min_rows=1)
    assert len(source) == 20 and source[TARGET].dtype == np.float64
    assert list(source["prediction_id"]) == sorted(source["prediction_id"])
    assert provenance | {"created_at": None} == {
        "labelled_rows": 20,
        "refused_test_places": 0,
        "refused_duplicates": 0,
        "added_rows": 20,
        "first_received_at": str(labelled["received_at"].min()),
        "last_received_at": str(labelled["received_at"].max()),
        "model_versions": [3],
        "created_at": None,
    }
    pd.testing.assert_frame_equal(labelled, before)


def test_feedback_at_a_test_rows_place_never_joins_the_training_data(small_raw):
    at_train = _labelled(small_raw, 12)
    at_test = _labelled(small_raw, 8, side="test").assign(prediction_id=[f"t{i}" for i in range(8)])
    # the same places, the coordinates a little off (below the data's 0.01 degree)
    nudged = at_test.iloc[:3].assign(
        Latitude=at_test["Latitude"].iloc[:3].round(2) + 0.002,
        prediction_id=["n0", "n1", "n2"],
    )

    source, provenance = prepare_feedback_source(
        pd.concat([at_train, at_test, nudged], ignore_index=True), small_raw, SPLIT, min_rows=1
    )

    assert (provenance["refused_test_places"], provenance["added_rows"]) == (11, 12)
    assert set(source["prediction_id"]) == set(at_train["prediction_id"])
    _, test = _sides(small_raw)
    assert not at_places(source, test, SPLIT["place_resolution"]).any()


def test_feedback_only_at_test_places_leaves_nothing_to_retrain_on(small_raw):
    at_test = _labelled(small_raw, 8, side="test")

    with pytest.raises(ValueError, match=r"0 new labelled row\(s\).*8 refused at test places"):
        prepare_feedback_source(at_test, small_raw, SPLIT, min_rows=1)


def test_duplicates_of_known_rows_and_of_each_other_are_refused(small_raw):
    labelled = _labelled(small_raw, 10)
    known = _labelled(small_raw, 3, shift=0.0).assign(prediction_id=["k0", "k1", "k2"])
    again = labelled.iloc[:2].assign(
        prediction_id=["d0", "d1"], received_at=labelled["received_at"].max() + timedelta(hours=1)
    )
    source, provenance = prepare_feedback_source(
        pd.concat([labelled, known, again], ignore_index=True), small_raw, SPLIT, min_rows=1
    )
    assert provenance["refused_duplicates"] == 5 and provenance["added_rows"] == 10
    assert set(source["prediction_id"]) == {f"p{i:04d}" for i in range(10)}


@pytest.mark.parametrize(
    ("column", "value"), [(TARGET, np.nan), ("MedInc", -1.0), ("Latitude", 99.0)]
)
def test_a_corrupted_feedback_row_is_rejected_by_the_raw_schema(small_raw, column, value):
    labelled = _labelled(small_raw, 10)
    labelled.loc[4, column] = value
    with pytest.raises(RawDataValidationError, match=rf"(?s)nothing was.*'{column}'"):
        prepare_feedback_source(labelled, small_raw, SPLIT, min_rows=1)


def test_repeated_prediction_ids_are_refused(small_raw):
    labelled = _labelled(small_raw, 4).assign(prediction_id=["a", "b", "a", "c"])
    with pytest.raises(ValueError, match="repeats prediction ids"):
        prepare_feedback_source(labelled, small_raw, SPLIT, min_rows=1)


def test_too_few_new_rows_stop_the_retraining(small_raw):
    known = _labelled(small_raw, 5, shift=0.0)
    with pytest.raises(ValueError, match=r"0 new labelled row\(s\).*5 as duplicates"):
        prepare_feedback_source(known, small_raw, SPLIT, min_rows=1)


def test_feedback_rows_get_the_next_row_ids_and_join_train(small_raw):
    source, _ = prepare_feedback_source(_labelled(small_raw, 30), small_raw, SPLIT, min_rows=1)
    validated = validate_raw(append_feedback(small_raw, source))
    assert len(validated) == 230
    split = extend_split(validated, source, test_size=0.2, seed=42)
    # the raw rows keep exactly the assignment they get without feedback
    pd.testing.assert_frame_equal(
        split.iloc[:200], assign_split(validate_raw(small_raw), test_size=0.2, seed=42)
    )
    assert (split.loc[200:, "split"] == "train").all() and len(split) == 230


def test_summary_says_what_was_added_and_what_the_gate_decided(small_raw):
    _, provenance = prepare_feedback_source(_labelled(small_raw, 7), small_raw, SPLIT, min_rows=1)
    kept = {"promote": False, "reason": "holdout RMSE 0.5 does not beat the champion's 0.4"}
    summary, text, metrics = summarise_retraining(provenance, kept)
    assert summary["feedback"]["added_rows"] == 7
    assert "**7**" in text and "kept the current champion" in text and "0.4" in text
    assert "0 at the places of test rows" in text
    assert metrics["feedback_rows_added"] == {"value": 7.0, "step": 0}
    assert metrics["feedback_rows_at_test_places"] == {"value": 0.0, "step": 0}
    assert metrics["promoted"]["value"] == 0.0
