"""Traffic scenarios: which rows are drawn, how drift shifts them, reproducibility."""

import pandas as pd
import pytest

from california_housing.pipelines.data_processing.nodes import assign_split, validate_raw
from california_housing.places import at_places
from california_housing.schema import RAW_FEATURES, TARGET
from california_housing.traffic import TrafficError, get_json, replay, scenario_rows

FILTERS = {"MedHouseVal": {"le": 5.0}, "Longitude": {"lt": -119.0}}


@pytest.fixture(scope="module")
def data(generated_raw):
    validated = validate_raw(generated_raw)
    return validated, assign_split(validated, test_size=0.2, seed=42)


def test_the_champion_domain_draw_takes_test_rows_inside_its_filters(data):
    validated, split = data
    rows = scenario_rows(validated, split, FILTERS, {"scale": {}}, rows=100, seed=1)
    assert len(rows) == 100 and rows.index.is_unique
    assert (rows["split"] == "test").all()
    assert (split.loc[rows.index, "split"] == "test").all()
    assert (rows["Longitude"] < -119.0).all() and (rows[TARGET] <= 5.0).all()
    pd.testing.assert_frame_equal(
        rows.drop(columns="split"), validated.loc[rows.index, [*RAW_FEATURES, TARGET]]
    )


def test_the_whole_state_draw_takes_test_places_and_train_rows_away_from_them(data):
    validated, split = data
    test = validated[split["split"].eq("test")]

    rows = scenario_rows(
        validated, split, {}, {"scale": {}}, rows=1000, seed=1, place_resolution=0.01
    )

    assert set(rows["split"]) == {"test", "train"}
    assert (split.loc[rows.index, "split"] == rows["split"]).all()
    trained = rows[rows["split"] == "train"]
    assert not at_places(trained, test, 0.01).any()  # their feedback may train the next model
    assert (rows["Longitude"] >= -119.0).any()  # the whole state, Los Angeles included


def test_the_same_seed_draws_the_same_rows(data):
    first, second, other = (
        scenario_rows(*data, FILTERS, {"scale": {}}, rows=50, seed=s) for s in (3, 3, 4)
    )
    pd.testing.assert_frame_equal(first, second)
    assert not first.index.equals(other.index)


def test_drift_scales_only_the_configured_column(data):
    validated, split = data
    control = scenario_rows(validated, split, FILTERS, {"scale": {}}, rows=300, seed=1)
    drift = scenario_rows(validated, split, FILTERS, {"scale": {"MedInc": 1.5}}, rows=300, seed=1)
    expected = (control["MedInc"] * 1.5).clip(upper=validated["MedInc"].max())
    pd.testing.assert_series_equal(drift["MedInc"], expected)
    others = [c for c in control.columns if c != "MedInc"]
    pd.testing.assert_frame_equal(drift[others], control[others])


def test_more_rows_than_the_pool_are_drawn_with_replacement(data):
    rows = scenario_rows(*data, FILTERS, {"scale": {}}, rows=5000, seed=1)
    assert len(rows) == 5000 and not rows.index.is_unique


def test_bad_scenarios_are_named(data):
    with pytest.raises(ValueError, match="'Income'"):
        scenario_rows(*data, FILTERS, {"scale": {"Income": 2}}, rows=5, seed=1)
    with pytest.raises(ValueError, match="at least 1"):
        scenario_rows(*data, FILTERS, {"scale": {}}, rows=0, seed=1)


def test_an_unreachable_service_is_named():
    frame = pd.DataFrame({c: [1.0] for c in [*RAW_FEATURES, TARGET]})
    with pytest.raises(TrafficError, match=r"127\.0\.0\.1:9.*kedro serve"):
        replay("http://127.0.0.1:9", frame, batch_rows=10, feedback=False, timeout=2)
    with pytest.raises(TrafficError, match="kedro serve"):
        get_json("http://127.0.0.1:9/model", timeout=2)
