"""Drift and error statistics on small generated samples."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from california_housing.pipelines.monitoring import stats
from california_housing.pipelines.monitoring.stats import RunningComparison, compare_distributions

THRESHOLDS = {"psi": 0.2, "ks_pvalue": 0.01, "ks_statistic": 0.1, "bins": 10}


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_psi_is_near_zero_for_the_same_distribution(rng):
    assert stats.psi(rng.normal(size=5000), rng.normal(size=5000)) < 0.01


def test_psi_grows_with_the_shift(rng):
    reference = rng.normal(size=5000)
    small, large = (stats.psi(reference, rng.normal(shift, size=5000)) for shift in (0.2, 1.0))
    assert 0.01 < small < 0.2 < large


def test_psi_matches_the_textbook_formula_on_known_shares():
    reference = np.repeat([0.0, 1.0], [50, 50])  # two bins of 50 %
    current = np.repeat([0.0, 1.0], [80, 20])
    expected = (0.8 - 0.5) * np.log(0.8 / 0.5) + (0.2 - 0.5) * np.log(0.2 / 0.5)
    assert stats.psi(reference, current, bins=2) == pytest.approx(expected)


def test_psi_stays_finite_when_current_leaves_bins_empty(rng):
    value = stats.psi(rng.normal(size=1000), np.full(100, 10.0))
    assert np.isfinite(value) and value > 1


def test_psi_refuses_an_empty_sample():
    with pytest.raises(ValueError, match="non-empty"):
        stats.psi(np.array([]), np.array([1.0]))


def test_compare_distributions_uses_scipys_ks_test(rng):
    reference, current = rng.normal(size=800), rng.normal(0.5, size=400)
    result = stats.compare_distributions(reference, current, THRESHOLDS)
    expected = ks_2samp(reference, current)
    assert result["ks_statistic"] == pytest.approx(expected.statistic, abs=1e-6)
    assert result["ks_pvalue"] == pytest.approx(expected.pvalue)
    assert result["drifted"] is True
    assert (result["reference_rows"], result["current_rows"]) == (800, 400)


def test_a_tiny_but_significant_gap_is_not_drift(rng):
    # 200,000 rows: the KS test rejects a 0.03 shift, but its effect is below the threshold
    reference, current = rng.normal(size=200_000), rng.normal(0.03, size=200_000)
    result = stats.compare_distributions(reference, current, THRESHOLDS)
    assert result["ks_pvalue"] < 0.01
    assert result["drifted"] is False


def test_drift_table_names_missing_columns(rng):
    frame = pd.DataFrame({"a": rng.normal(size=10)})
    with pytest.raises(ValueError, match=r"\['b'\]"):
        stats.drift_table(frame, frame, ["a", "b"], THRESHOLDS)


def test_drift_table_flags_only_the_shifted_column(rng):
    reference = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(size=2000)})
    current = pd.DataFrame({"a": rng.normal(size=500), "b": rng.normal(2, size=500)})
    table = stats.drift_table(reference, current, ["a", "b"], THRESHOLDS)
    assert table["drifted"].to_dict() == {"a": False, "b": True}
    assert table.index.name == "feature"


def test_error_summary():
    result = stats.error_summary(np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 1.0]))
    assert result == pytest.approx({"rmse": np.sqrt(5 / 3), "mae": 1.0, "bias": -1 / 3})


def test_quantiles_of_an_empty_sample_are_none():
    assert stats.quantiles(np.array([])) == {"p50": None, "p95": None, "p99": None, "max": None}
    assert stats.quantiles(np.arange(101.0))["p95"] == 95.0


# ------------------------------------------------------------------ RunningComparison


@pytest.mark.parametrize(
    ("rows", "shift", "rounding"),
    [
        (12_000, 0.0, 2),  # repeated values, as the real data has them (ties)
        (25_000, 0.3, None),  # continuous values, shifted
        (5_000, 0.5, 1),  # small enough for scipy's exact p-value: kept and compared as is
    ],
)
def test_chunked_comparison_gives_the_numbers_of_the_whole_window(rows, shift, rounding):
    rng = np.random.default_rng(rows)
    reference = rng.normal(0.0, 1.0, 16_512)
    current = rng.normal(shift, 1.1, rows)
    if rounding is not None:
        reference, current = reference.round(rounding), current.round(rounding)
    thresholds = {"psi": 0.2, "ks_pvalue": 0.01, "ks_statistic": 0.1, "bins": 10}
    whole = compare_distributions(reference, current, thresholds)

    running = RunningComparison(reference, bins=10)
    for chunk in np.array_split(current, 7):
        running.add(chunk)
    chunked = running.result(thresholds)

    assert {k: v for k, v in chunked.items() if k != "current_mean"} == {
        k: v for k, v in whole.items() if k != "current_mean"
    }
    assert chunked["current_mean"] == pytest.approx(whole["current_mean"], rel=1e-12)
