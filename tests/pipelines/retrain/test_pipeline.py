"""The retrain pipeline: structure, and the data it rebuilds from raw data + feedback."""

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from california_housing.pipelines.retrain import create_pipeline
from california_housing.schema import RAW_FEATURES, TARGET, RawDataValidationError
from tests.helpers import KeptMemoryDataset, parameter_datasets, project_parameters, version_splits

OUTPUTS = ["common_holdout_ids", "v1.train", "v1.test", "v3.train", "v3.test", "feedback_source"]


def test_every_step_waits_for_the_feedback_validation():
    pipeline = create_pipeline()
    downstream = {n.name for n in pipeline.from_nodes("prepare_feedback_source").nodes}
    # only the tuned model's spec (parameters only, kept in memory) does not depend on it
    assert {n.name for n in pipeline.nodes} - downstream == {
        "v3.xgboost_tuned.build_tuned_model_spec"
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


def _labelled(raw, n):
    rows = raw.sample(n, random_state=0)[[*RAW_FEATURES, TARGET]].reset_index(drop=True)
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


def test_a_corrupted_row_stops_the_run_before_any_output(generated_raw):
    labelled = _labelled(generated_raw, 50)
    labelled.loc[7, TARGET] = -3.0
    with pytest.raises(RawDataValidationError, match="MedHouseVal"):
        _run(generated_raw, labelled)
