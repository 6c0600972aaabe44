import copy
import math
from pathlib import Path

import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader

from california_housing.pipelines.data_processing.nodes import (
    ROW_ID,
    assign_split,
    build_version,
    common_holdout,
    population_coverage,
    population_test_rows,
    split_version,
    validate_raw,
)
from california_housing.schema import RAW_FEATURES, TARGET, RawDataValidationError
from california_housing.settings import CONFIG_LOADER_ARGS

REPO_ROOT = Path(__file__).resolve().parents[3]
V3_FEATURES = [
    "rooms_per_household",
    "bedrooms_ratio",
    "population_density",
    "income_category_encoded",
]


@pytest.fixture(scope="module")
def versions():
    """The data versions configured in conf/base (v1, v2, v3)."""
    loader = OmegaConfigLoader(
        conf_source=str(REPO_ROOT / "conf"),
        base_env="base",
        default_run_env="local",
        custom_resolvers=CONFIG_LOADER_ARGS["custom_resolvers"],  # ${project_root:}
    )
    return loader["parameters"]["versions"]


@pytest.fixture(scope="module")
def validated(generated_raw):
    """2,000 generated rows with the real schema, validated."""
    return validate_raw(generated_raw)


@pytest.fixture(scope="module")
def split(validated):
    return assign_split(validated, test_size=0.2, seed=42)


@pytest.fixture(scope="module")
def built(validated, versions):
    return {name: build_version(validated, spec) for name, spec in versions.items()}


# ------------------------------------------------------------------------ validate_raw


def test_validate_raw_names_rows_in_source_order(small_raw):
    validated = validate_raw(small_raw)

    assert validated.index.name == ROW_ID
    assert validated.index.tolist() == list(range(200))
    pd.testing.assert_frame_equal(validated.reset_index(drop=True), small_raw)


def test_validate_raw_rejects_bad_rows_naming_the_column(small_raw):
    small_raw.loc[10, "AveBedrms"] = float("nan")

    with pytest.raises(RawDataValidationError, match="column 'AveBedrms'"):
        validate_raw(small_raw)


# ----------------------------------------------------------------------- build_version


def test_filters_keep_exactly_the_rows_they_allow():
    frame = pd.DataFrame(
        {
            **{column: [1.0] * 5 for column in RAW_FEATURES},
            "Longitude": [-122.0, -119.0, -119.01, -118.0, -122.0],
            TARGET: [5.0, 1.0, 2.0, 1.0, 5.00001],
        }
    ).rename_axis(ROW_ID)
    version = {"filters": {TARGET: {"le": 5.0}, "Longitude": {"lt": -119.0}}, "features": []}

    kept = build_version(frame, version)

    assert kept.index.tolist() == [0, 2]


def test_configured_versions_keep_their_rows_and_add_their_features(validated, built):
    v1, v2, v3 = built["v1"], built["v2"], built["v3"]
    inland_capped = (validated[TARGET] <= 5.0) & (validated["Longitude"] < -119.0)
    assert 0 < inland_capped.sum() < len(validated)

    assert v1.shape == (len(validated), 9)
    assert v2.shape == (inland_capped.sum(), 9)
    assert v3.shape == (inland_capped.sum(), 13)
    assert list(v1.columns) == [*RAW_FEATURES, TARGET]
    assert list(v3.columns) == [*RAW_FEATURES, *V3_FEATURES, TARGET]
    assert v2.index.equals(validated.index[inland_capped])
    pd.testing.assert_frame_equal(v3[v2.columns], v2)


def test_unknown_filter_column_is_named(validated):
    version = {"filters": {"MedianIncome": {"gt": 1.0}}, "features": []}

    with pytest.raises(ValueError, match="unknown column 'MedianIncome'"):
        build_version(validated, version)


def test_unknown_filter_operator_is_named(validated):
    version = {"filters": {"MedInc": {"lte": 5.0}}, "features": []}

    with pytest.raises(ValueError, match="unknown operator 'lte'"):
        build_version(validated, version)


def test_unknown_feature_is_named(validated):
    version = {"filters": {}, "features": ["rooms_per_person"]}

    with pytest.raises(ValueError, match="'rooms_per_person'"):
        build_version(validated, version)


def test_filters_that_keep_nothing_are_rejected(validated):
    version = {"filters": {"MedInc": {"gt": 100.0}}, "features": []}

    with pytest.raises(ValueError, match="keep no rows"):
        build_version(validated, version)


# ------------------------------------------------------------------------ assign_split


def test_split_is_disjoint_covering_and_holds_out_20_percent(validated, split):
    assert split.index.equals(validated.index)
    assert list(split.columns) == ["split"]
    assert set(split["split"]) == {"train", "test"}
    n_test = math.ceil(0.2 * len(validated))
    assert (split["split"] == "test").sum() == n_test
    assert (split["split"] == "train").sum() == len(validated) - n_test


def test_split_is_determined_by_the_seed(validated, split):
    again = assign_split(validated, test_size=0.2, seed=42)
    other = assign_split(validated, test_size=0.2, seed=43)

    pd.testing.assert_frame_equal(again, split)
    assert not other.equals(split)
    assert (other["split"] == "test").sum() == (split["split"] == "test").sum()


@pytest.mark.parametrize("test_size", [0.0, 1.0, 1.5, -0.2])
def test_split_rejects_a_test_size_outside_0_1(validated, test_size):
    with pytest.raises(ValueError, match=r"split\.test_size must be in \(0, 1\)"):
        assign_split(validated, test_size=test_size, seed=42)


# ----------------------------------------------------------------------- split_version


def test_versions_take_their_sides_from_the_shared_split(validated, built, split):
    sides = {name: split_version(frame, split) for name, frame in built.items()}
    v1_train, v1_test = sides["v1"]

    assert len(v1_train) + len(v1_test) == len(validated)
    assert v1_train.index.intersection(v1_test.index).empty
    for name in ("v2", "v3"):
        train, test = sides[name]
        assert set(test.index) <= set(v1_test.index)
        assert set(train.index) <= set(v1_train.index)
        assert test.index.equals(built[name].index.intersection(v1_test.index))
        assert len(train) + len(test) == len(built[name])
    assert sides["v2"][1].index.equals(sides["v3"][1].index)


def test_rows_without_an_assignment_are_rejected(built, split):
    with pytest.raises(ValueError, match="no split assignment"):
        split_version(built["v1"], split.iloc[:-1])


# ----------------------------------------------------------------------- common_holdout


def test_common_holdout_is_the_sorted_intersection_of_the_versions_test_splits(
    validated, split, built, versions
):
    tests = [split_version(frame, split)[1] for frame in built.values()]

    holdout = common_holdout(validated, split, versions)

    expected = tests[0].index.intersection(tests[1].index).intersection(tests[2].index)
    assert holdout[ROW_ID].tolist() == sorted(expected)
    assert len(holdout) == len(tests[1]) > 0  # v2's (= v3's) test rows, v1 has them all


def test_common_holdout_rejects_versions_that_share_no_test_rows(validated, split):
    versions = {
        "cheap": {"filters": {"MedHouseVal": {"lt": 1.0}}},
        "dear": {"filters": {"MedHouseVal": {"gt": 3.0}}},
    }

    with pytest.raises(ValueError, match="share no test rows"):
        common_holdout(validated, split, versions)


# ----------------------------------------------------------------- the served population

INLAND = {"Longitude": {"lt": -119.0}}


def test_the_population_test_rows_are_the_test_rows_its_filters_keep(validated, split):
    whole = population_test_rows(validated, split, {"filters": {}})
    inland = population_test_rows(validated, split, {"filters": INLAND})

    test_ids = split.index[split["split"] == "test"]
    assert whole.index.equals(test_ids)
    assert list(whole.columns) == [*RAW_FEATURES, TARGET]
    assert set(inland.index) == set(test_ids[validated.loc[test_ids, "Longitude"] < -119.0])
    assert 0 < len(inland) < len(whole)


def test_a_population_without_test_rows_is_named(validated, split):
    nowhere = {"description": "Nevada", "filters": {"Longitude": {"gt": -114.0}}}

    with pytest.raises(ValueError, match=r"served population \(Nevada, filters .* no test rows"):
        population_test_rows(validated, split, nowhere)


def test_a_version_covers_the_population_when_it_keeps_all_of_its_rows(validated, versions):
    coverage = population_coverage(
        validated, versions, {"description": "inland", "filters": INLAND}
    )

    inland = int((validated["Longitude"] < -119.0).sum())
    covers = {name: spec["covers"] for name, spec in coverage["versions"].items()}
    assert coverage["rows"] == inland
    assert covers == {"v1": True, "v2": False, "v3": False, "v4": True}  # v2/v3 drop capped rows
    assert coverage["versions"]["v2"]["rows_kept"] < inland


def test_a_population_no_version_covers_stops_the_run(validated, versions):
    filtered = {name: spec for name, spec in versions.items() if spec["filters"]}

    with pytest.raises(ValueError, match=r"No data version covers the served population"):
        population_coverage(validated, filtered, {"description": "the whole state", "filters": {}})


# ------------------------------------------------------------------------- no mutation


def test_nodes_do_not_mutate_their_inputs(small_raw, versions):
    raw_before = small_raw.copy(deep=True)
    validated = validate_raw(small_raw)
    validated_before = validated.copy(deep=True)
    spec = versions["v3"]
    spec_before = copy.deepcopy(spec)

    split = assign_split(validated, test_size=0.2, seed=42)
    split_before = split.copy(deep=True)
    model_input = build_version(validated, spec)
    model_input_before = model_input.copy(deep=True)
    _, test = split_version(model_input, split)
    test_before = test.copy(deep=True)
    common_holdout(validated, split, {"v3": spec})

    pd.testing.assert_frame_equal(small_raw, raw_before)
    pd.testing.assert_frame_equal(validated, validated_before)
    assert spec == spec_before
    pd.testing.assert_frame_equal(split, split_before)
    pd.testing.assert_frame_equal(model_input, model_input_before)
    pd.testing.assert_frame_equal(test, test_before)
