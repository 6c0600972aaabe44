"""The retrain pipeline: structure, and the data it rebuilds from raw data + feedback."""

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from california_housing.pipelines.data_processing.nodes import assign_split, validate_raw
from california_housing.pipelines.retrain import create_pipeline
from california_housing.places import at_places
from california_housing.schema import RAW_FEATURES, TARGET, RawDataValidationError
from tests.helpers import KeptMemoryDataset, parameter_datasets, project_parameters, version_splits

OUTPUTS = [
    "common_holdout_ids",
    "population_test",
    "v1.train",
    "v1.test",
    "v3.train",
    "v3.test",
    "v4.train",
    "feedback_source",
    "feedback_provenance",
]
PLACES = project_parameters()["split"]["place_resolution"]


def test_every_step_waits_for_the_feedback_validation():
    pipeline = create_pipeline()
    downstream = {n.name for n in pipeline.from_nodes("prepare_feedback_source").nodes}
    # only the tuned models' settings and specs (parameters only, in memory) do not need it
    assert {n.name for n in pipeline.nodes} - downstream == {
        f"{version}.xgboost_tuned.{node}"
        for version in ("v3", "v4")
        for node in ("build_tuning_settings", "build_tuned_model_spec")
    }
    assert {
        "validate_raw",
        "extend_split",
        "build_leaderboard",
        "decide_promotion",
        "apply_promotion",
        "summarise_retraining",
    } <= downstream
    assert "assign_split" not in {n.name for n in pipeline.nodes}


def _places(raw):
    """The raw rows of the test split, and the train rows away from every test place."""
    split = assign_split(validate_raw(raw), 0.2, 42)["split"].to_numpy()
    test, train = raw[split == "test"], raw[split == "train"]
    return test, train[~at_places(train, test, PLACES)]


def _labelled(raw, n, side="train"):
    test, train = _places(raw)
    rows = (train if side == "train" else test).sample(n, random_state=0)
    rows = rows[[*RAW_FEATURES, TARGET]].reset_index(drop=True)
    rows["MedInc"] = rows["MedInc"] + 0.5  # new rows: no raw row has these incomes
    now = pd.Timestamp("2026-01-02", tz="UTC")
    return rows.assign(
        prediction_id=[f"p{i}" for i in range(n)],
        model_version=1,
        created_at=now,
        received_at=now + pd.to_timedelta(np.arange(n), "s"),
    )


def _run(raw, labelled):
    pipeline = create_pipeline().to_outputs(*OUTPUTS)
    catalog = DataCatalog(
        {"california_housing_raw": MemoryDataset(raw), "labelled_feedback": MemoryDataset(labelled)}
        | parameter_datasets(pipeline, project_parameters())
        | {name: KeptMemoryDataset() for name in OUTPUTS}
    )
    SequentialRunner().run(pipeline, catalog)
    return {name: catalog.load(name) for name in OUTPUTS}


def test_feedback_grows_the_train_splits_and_leaves_test_and_holdout_alone(generated_raw):
    out = _run(generated_raw, _labelled(generated_raw, 300))
    (before, holdout) = version_splits(generated_raw, project_parameters())
    added = out["feedback_source"]
    assert len(added) == 300
    assert len(out["v1.train"]) == len(before["v1"][0]) + 300
    in_v3 = (added["Longitude"] < -119.0) & (added[TARGET] <= 5.0)
    assert len(out["v3.train"]) == len(before["v3"][0]) + int(in_v3.sum())
    pd.testing.assert_frame_equal(out["v1.test"], before["v1"][1])
    pd.testing.assert_frame_equal(out["v3.test"], before["v3"][1])
    pd.testing.assert_frame_equal(out["common_holdout_ids"], holdout)
    assert out["v1.train"].index.max() == len(generated_raw) + 299


def test_feedback_describing_holdout_places_reaches_no_training_data(generated_raw):
    """The probe: later observations of held-out block groups (their true values, incomes
    moved a little) next to feedback from train places. The first never train a model, so
    the gate's view of the holdout does not move; the others do."""
    probe = _labelled(generated_raw, 120, side="test")
    fair = _labelled(generated_raw, 80).assign(prediction_id=[f"q{i}" for i in range(80)])

    out = _run(generated_raw, pd.concat([probe, fair], ignore_index=True))

    (before, holdout) = version_splits(generated_raw, project_parameters())
    test, _ = _places(generated_raw)
    assert out["feedback_provenance"]["refused_test_places"] == 120
    assert set(out["feedback_source"]["prediction_id"]) == set(fair["prediction_id"])
    for version in ("v1", "v4"):  # the whole-state versions: every added row joins train
        grown = out[f"{version}.train"]
        added = grown[grown.index >= len(generated_raw)]  # row ids after the raw data's
        assert len(added) == len(grown) - len(before[version][0]) == 80
        assert not at_places(added, test, PLACES).any()
    pd.testing.assert_frame_equal(out["v1.test"], before["v1"][1])
    pd.testing.assert_frame_equal(out["population_test"], before["v1"][1][[*RAW_FEATURES, TARGET]])
    pd.testing.assert_frame_equal(out["common_holdout_ids"], holdout)


def test_a_corrupted_row_stops_the_run_before_any_output(generated_raw):
    labelled = _labelled(generated_raw, 50)
    labelled.loc[7, TARGET] = -3.0
    with pytest.raises(RawDataValidationError, match="MedHouseVal"):
        _run(generated_raw, labelled)
