"""Monitoring nodes on small generated prediction logs, read through the catalog's dataset."""

import numpy as np
import pandas as pd
import pytest

from california_housing.pipelines.monitoring import stats
from california_housing.pipelines.monitoring.nodes import (
    PREDICTION,
    compute_live_error,
    decide_retraining,
    scan_window,
    select_reference,
    summarise_traffic,
)
from california_housing.schema import RAW_FEATURES
from tests.pipelines.monitoring.conftest import REFERENCE, REFERENCE_PREDICTIONS

MONITORING = {
    "window": {"since": "2026-01-01 00:00:00", "until": "2026-02-01 00:00:00"},
    "drift": {"psi": 0.2, "ks_pvalue": 0.01, "ks_statistic": 0.1, "bins": 10, "min_rows": 50},
    "min_drifted_features": 1,
    "max_ood_rate": 0.1,
    "live_error": {"min_rows": 20, "max_rmse_increase": 0.25, "bucket_rows": 10},
}
CHAMPION = {
    "name": "m",
    "version": 3,
    "candidate": "v2.xgboost",
    "data_version": "v2",
    "population_rmse": 0.5,
    "holdout_rmse": 0.45,
    "run_id": "r",
}
RESOLUTION = 0.01


def _scan(window, champion=CHAMPION):
    return scan_window(window, REFERENCE, REFERENCE_PREDICTIONS, champion, MONITORING["drift"])


def test_the_scan_gives_the_numbers_of_the_whole_window(logged):
    predictions, _, read = logged(n=400, shift=0.4, chunk=64)  # seven chunks

    drift, latency, histograms = _scan(read["window_values"])

    features = stats.drift_table(REFERENCE, predictions, RAW_FEATURES, MONITORING["drift"])
    served = stats.drift_table(
        REFERENCE_PREDICTIONS, predictions, [PREDICTION], MONITORING["drift"]
    )
    expected = pd.concat([features, served]).assign(assessed=True)
    pd.testing.assert_frame_equal(drift, expected, check_exact=False, rtol=1e-12)
    assert latency == stats.quantiles(predictions["latency_ms"].to_numpy())
    assert histograms["MedInc"].counts.sum() <= 400  # values beyond the reference's range


def test_the_scan_flags_the_shifted_feature_only(logged):
    _, _, read = logged(n=400, shift=2.0)

    drift, _, _ = _scan(read["window_values"])

    assert set(drift.index[drift["drifted"]]) == {"MedInc"}
    assert drift["assessed"].all()


def test_the_scan_compares_predictions_of_the_champion_version_only(logged):
    _, _, read = logged(n=400, version=2)

    drift, _, _ = _scan(read["window_values"])

    assert drift.loc[PREDICTION, "assessed"] == False  # noqa: E712 (numpy bool)
    assert drift.loc[PREDICTION, "current_rows"] == 0
    assert drift.loc["MedInc", "current_rows"] == 400


def test_too_few_rows_are_not_assessed(logged):
    _, _, read = logged(n=20)

    drift, _, _ = _scan(read["window_values"])

    assert not drift["assessed"].any() and not drift["drifted"].any()


def test_a_window_without_the_logs_numbers_is_named():
    with pytest.raises(ValueError, match=r"lacks columns .*window_values"):
        _scan([np.zeros((3, 4))])


def test_summarise_traffic_counts_requests_feedback_and_latency(logged):
    predictions, feedback, read = logged(n=250)
    _, latency, _ = _scan(read["window_values"])

    live, _ = _live_error(read["window_labelled"])
    traffic = summarise_traffic(read["window_traffic"], latency, live, MONITORING["window"])

    assert (traffic["rows"], traffic["requests"], traffic["feedback_rows"]) == (250, 3, 125)
    assert traffic["rows_by_model_version"] == {"3": 250}
    assert traffic["out_of_domain_rows"] == int(predictions["out_of_domain"].sum())
    assert traffic["first_prediction_at"] == predictions["created_at"].min().isoformat()
    assert traffic["last_prediction_at"] == predictions["created_at"].max().isoformat()
    assert traffic["latency_ms"]["p50"] <= traffic["latency_ms"]["p99"]
    assert len(feedback) == 125


def _live_error(labelled, champion=CHAMPION, places=None):
    """compute_live_error with every place of the labelled rows a test place, unless told."""
    places = labelled if places is None else places
    return compute_live_error(labelled, champion, MONITORING["live_error"], places, RESOLUTION)


def test_live_error_against_the_champions_rmse_at_promotion(logged):
    _, _, read = logged(n=200, error=0.3)

    live, over_time = _live_error(read["window_labelled"])

    assert live["assessed"] and live["rows"] == 100
    assert live["rmse"] == pytest.approx(0.3, abs=0.06)
    assert (live["reference"], live["reference_rmse"]) == ("population_rmse", 0.5)
    assert live["rmse_change"] == pytest.approx(live["rmse"] / 0.5 - 1)
    assert len(over_time) == 10 and over_time["rows"].sum() == 100
    assert over_time["until"].is_monotonic_increasing


def test_live_error_of_a_champion_without_a_population_score_uses_the_holdout(logged):
    _, _, read = logged(n=200, error=0.3)

    live, _ = _live_error(read["window_labelled"], CHAMPION | {"population_rmse": None})

    assert (live["reference"], live["reference_rmse"]) == ("holdout_rmse", 0.45)
    assert live["rmse_change"] == pytest.approx(live["rmse"] / 0.45 - 1)


def test_live_error_scores_only_feedback_at_test_places(logged):
    _, _, read = logged(n=200, error=0.3)
    labelled = read["window_labelled"]
    test_places = labelled.iloc[:60]  # the others: places a model may have trained on

    live, over_time = _live_error(labelled, places=test_places)

    assert (live["rows"], live["rows_at_other_places"]) == (60, 40)
    assert over_time["rows"].sum() == 60
    # a place is the coordinates at the data's resolution: a jitter below it is the same place
    jittered = test_places.assign(Latitude=test_places["Latitude"].round(2) + 0.003)
    assert _live_error(labelled, places=jittered)[0]["rows"] == 60


def test_live_error_claims_nothing_below_the_minimum(logged):
    _, _, read = logged(n=30)

    live, _ = _live_error(read["window_labelled"])

    assert live["rows"] == 15 and not live["assessed"] and "rmse" not in live


def test_live_error_ignores_feedback_for_other_versions(logged):
    _, _, read = logged(n=200, version=2)

    live, over_time = _live_error(read["window_labelled"])

    assert live["rows"] == 0 and live["feedback_rows_other_versions"] == 100
    assert over_time.empty


def _decide(read):
    drift, latency, _ = _scan(read["window_values"])
    live, _ = _live_error(read["window_labelled"])
    traffic = summarise_traffic(read["window_traffic"], latency, live, MONITORING["window"])
    return decide_retraining(drift, live, traffic, CHAMPION, MONITORING)


def test_decision_on_stable_traffic_is_ok(logged):
    decision = _decide(logged(n=400, error=0.3)[2])

    assert (decision["retrain"], decision["status"], decision["reasons"]) == (False, "ok", [])
    assert set(decision) >= {
        "retrain",
        "reasons",
        "thresholds",
        "drift",
        "live_error",
        "ood_rate",
        "window",
        "created_at",
    }


def test_decision_names_drift_and_error_reasons(logged):
    decision = _decide(logged(n=400, shift=2.0, error=1.0)[2])

    assert decision["retrain"] and decision["status"] == "retrain"
    assert any(r.startswith("1 feature(s) drifted: MedInc") for r in decision["reasons"])
    assert any("live RMSE" in r for r in decision["reasons"])
    assert decision["drift"]["MedInc"]["drifted"] is True


def test_an_empty_window_has_nothing_to_monitor(logged):
    decision = _decide(logged(n=0)[2])

    assert decision["retrain"] is False and decision["status"] == "nothing_to_monitor"
    assert "nothing to monitor" in decision["reasons"][0]


def test_select_reference_needs_a_champion():
    with pytest.raises(ValueError, match="No champion"):
        select_reference({}, {})


def test_select_reference_refuses_another_versions_splits():
    with pytest.raises(ValueError, match="'v2' but the reference splits are of 'v3'"):
        select_reference(CHAMPION | {"model": None}, {"data_version": "v3"})
