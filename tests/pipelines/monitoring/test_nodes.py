"""Monitoring nodes on small generated prediction logs."""

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from california_housing.pipelines.monitoring.nodes import (
    OBSERVED,
    PREDICTION,
    compute_drift,
    compute_live_error,
    decide_retraining,
    prepare_window,
    select_reference,
    summarise_traffic,
)
from california_housing.schema import RAW_FEATURES, TARGET
from california_housing.serving.log.synthetic import log_rows

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


def _rows(n, seed=0, shift=0.0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.uniform(1, 5, n) for c in RAW_FEATURES})
    frame["MedInc"] += shift
    frame["Latitude"], frame["Longitude"] = rng.uniform(33, 41, n), rng.uniform(-124, -119.5, n)
    return frame.assign(**{TARGET: rng.uniform(0.5, 4.5, n)})


def _window(n=200, *, shift=0.0, feedback_every=2, version=3, error=0.3, seed=0):
    rows = _rows(n, seed, shift)
    noise = np.random.default_rng(seed + 1).normal(0, error, n)
    logged, fed = log_rows(
        rows,
        rows[TARGET] + noise,
        model_version=version,
        feedback_every=feedback_every,
        seed=seed,
        start=datetime(2026, 1, 2, tzinfo=UTC),
    )
    logged["created_at"] = logged["created_at"].astype(str)  # as SQLite returns it
    return prepare_window(logged, fed)


def test_prepare_window_types_and_joins_feedback():
    window = _window(n=10, feedback_every=3)
    assert window["created_at"].dt.tz is not None
    assert window["out_of_domain"].dtype == bool
    assert window[OBSERVED].notna().sum() == 4  # rows 0, 3, 6, 9
    assert window["created_at"].is_monotonic_increasing


def test_prepare_window_names_missing_columns():
    logged, fed = log_rows(_rows(5), np.ones(5))
    with pytest.raises(ValueError, match="latency_ms"):
        prepare_window(logged.drop(columns="latency_ms"), fed)


def test_prepare_window_of_an_empty_log():
    logged, fed = log_rows(_rows(0), np.ones(0))
    window = prepare_window(logged, fed)
    assert window.empty
    traffic = summarise_traffic(window, MONITORING["window"])
    assert traffic["rows"] == 0 and traffic["ood_rate"] is None


def test_summarise_traffic_counts_requests_feedback_and_latency():
    window = _window(n=250)
    traffic = summarise_traffic(window, MONITORING["window"])
    assert (traffic["rows"], traffic["requests"], traffic["feedback_rows"]) == (250, 3, 125)
    assert traffic["rows_by_model_version"] == {"3": 250}
    assert traffic["latency_ms"]["p50"] <= traffic["latency_ms"]["p99"]


def test_compute_drift_flags_the_shifted_feature_only():
    reference = _rows(2000, seed=5)[RAW_FEATURES]
    ref_pred = pd.DataFrame({PREDICTION: _rows(2000, seed=6)[TARGET]})
    drift = compute_drift(
        _window(n=400, shift=2.0), reference, ref_pred, CHAMPION, MONITORING["drift"]
    )
    assert set(drift.index[drift["drifted"]]) == {"MedInc"}
    assert drift["assessed"].all()


def test_compute_drift_compares_predictions_of_the_champion_version_only():
    reference = _rows(2000, seed=5)[RAW_FEATURES]
    ref_pred = pd.DataFrame({PREDICTION: _rows(2000, seed=6)[TARGET]})
    drift = compute_drift(
        _window(n=400, version=2), reference, ref_pred, CHAMPION, MONITORING["drift"]
    )
    assert drift.loc[PREDICTION, "assessed"] == False  # noqa: E712 (numpy bool)
    assert drift.loc[PREDICTION, "current_rows"] == 0


def test_too_few_rows_are_not_assessed():
    reference = _rows(2000, seed=5)[RAW_FEATURES]
    ref_pred = pd.DataFrame({PREDICTION: _rows(2000, seed=6)[TARGET]})
    drift = compute_drift(_window(n=20), reference, ref_pred, CHAMPION, MONITORING["drift"])
    assert not drift["assessed"].any() and not drift["drifted"].any()


def _live_error(window, champion=CHAMPION, places=None):
    """compute_live_error with every place of the window a test place, unless told."""
    places = window if places is None else places
    return compute_live_error(window, champion, MONITORING["live_error"], places, RESOLUTION)


def test_live_error_against_the_champions_rmse_at_promotion():
    live, over_time = _live_error(_window(n=200, error=0.3))

    assert live["assessed"] and live["rows"] == 100
    assert live["rmse"] == pytest.approx(0.3, abs=0.06)
    assert (live["reference"], live["reference_rmse"]) == ("population_rmse", 0.5)
    assert live["rmse_change"] == pytest.approx(live["rmse"] / 0.5 - 1)
    assert len(over_time) == 10 and over_time["rows"].sum() == 100


def test_live_error_of_a_champion_without_a_population_score_uses_the_holdout():
    older = CHAMPION | {"population_rmse": None}

    live, _ = _live_error(_window(n=200, error=0.3), older)

    assert (live["reference"], live["reference_rmse"]) == ("holdout_rmse", 0.45)
    assert live["rmse_change"] == pytest.approx(live["rmse"] / 0.45 - 1)


def test_live_error_scores_only_feedback_at_test_places():
    window = _window(n=200, error=0.3)
    labelled = window[window[OBSERVED].notna()]
    test_places = labelled.iloc[:60]  # the others: places a model may have trained on

    live, over_time = _live_error(window, places=test_places)

    assert (live["rows"], live["rows_at_other_places"]) == (60, 40)
    assert over_time["rows"].sum() == 60
    # a place is the coordinates at the data's resolution: a jitter below it is the same place
    jittered = test_places.assign(Latitude=test_places["Latitude"].round(2) + 0.003)
    assert _live_error(window, places=jittered)[0]["rows"] == 60


def test_live_error_claims_nothing_below_the_minimum():
    live, _ = _live_error(_window(n=30))
    assert live["rows"] == 15 and not live["assessed"] and "rmse" not in live


def test_live_error_ignores_feedback_for_other_versions():
    live, over_time = _live_error(_window(n=200, version=2))
    assert live["rows"] == 0 and live["feedback_rows_other_versions"] == 100
    assert over_time.empty


def _decide(window):
    reference = _rows(2000, seed=5)[RAW_FEATURES]
    ref_pred = pd.DataFrame({PREDICTION: _rows(2000, seed=6)[TARGET]})
    drift = compute_drift(window, reference, ref_pred, CHAMPION, MONITORING["drift"])
    live, _ = _live_error(window)
    traffic = summarise_traffic(window, MONITORING["window"])
    return decide_retraining(drift, live, traffic, CHAMPION, MONITORING)


def test_decision_on_stable_traffic_is_ok():
    decision = _decide(_window(n=400, error=0.3))
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


def test_decision_names_drift_and_error_reasons():
    decision = _decide(_window(n=400, shift=2.0, error=1.0))
    assert decision["retrain"] and decision["status"] == "retrain"
    assert any(r.startswith("1 feature(s) drifted: MedInc") for r in decision["reasons"])
    assert any("live RMSE" in r for r in decision["reasons"])
    assert decision["drift"]["MedInc"]["drifted"] is True


def test_an_empty_window_has_nothing_to_monitor():
    logged, fed = log_rows(_rows(0), np.ones(0))
    decision = _decide(prepare_window(logged, fed))
    assert decision["retrain"] is False and decision["status"] == "nothing_to_monitor"
    assert "nothing to monitor" in decision["reasons"][0]


def test_select_reference_needs_a_champion():
    with pytest.raises(ValueError, match="No champion"):
        select_reference({}, {})


def test_select_reference_refuses_another_versions_splits():
    with pytest.raises(ValueError, match="'v2' but the reference splits are of 'v3'"):
        select_reference(CHAMPION | {"model": None}, {"data_version": "v3"})
