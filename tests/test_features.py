import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

from california_housing.features import (
    FEATURES,
    FeatureEngineer,
    add_features,
    bedrooms_ratio,
    income_category_encoded,
    population_density,
    rooms_per_household,
)
from california_housing.schema import RAW_FEATURES, TARGET

ALL_FEATURES = [
    "rooms_per_household",
    "bedrooms_ratio",
    "population_density",
    "income_category_encoded",
]


@pytest.fixture
def tiny():
    """Three rows with round numbers, so every feature can be computed by hand."""
    return pd.DataFrame(
        {
            "MedInc": [2.0, 5.0, 8.0],
            "HouseAge": [10.0, 20.0, 30.0],
            "AveRooms": [5.0, 4.0, 8.0],
            "AveBedrms": [1.0, 2.0, 2.0],
            "Population": [1000.0, 600.0, 250.0],
            "AveOccup": [2.0, 3.0, 2.5],
            "Latitude": [34.0, 37.0, 38.0],
            "Longitude": [-118.0, -122.0, -121.0],
        }
    )


def test_rooms_per_household_is_rooms_times_occupancy(tiny):
    result = rooms_per_household(tiny)

    np.testing.assert_allclose(result, [10.0, 12.0, 20.0])


def test_bedrooms_ratio_is_bedrooms_over_rooms(tiny):
    result = bedrooms_ratio(tiny)

    np.testing.assert_allclose(result, [0.2, 0.5, 0.25])


def test_population_density_is_population_over_occupancy(tiny):
    result = population_density(tiny)

    np.testing.assert_allclose(result, [500.0, 200.0, 100.0])


def test_income_category_encoded_bins_income(tiny):
    result = income_category_encoded(tiny)

    assert result.tolist() == [0, 2, 3]


@pytest.mark.parametrize(
    ("med_inc", "code"),
    [(0.5, 0), (2.5, 0), (2.51, 1), (4.5, 1), (4.51, 2), (6.5, 2), (6.51, 3), (15.0, 3)],
)
def test_income_category_bins_are_right_closed(med_inc, code):
    frame = pd.DataFrame({"MedInc": [med_inc]})

    result = income_category_encoded(frame)

    assert result.tolist() == [code]


def test_registry_lists_the_four_features():
    assert list(FEATURES) == ALL_FEATURES


def test_add_features_appends_columns_in_the_requested_order(tiny):
    names = ["income_category_encoded", "bedrooms_ratio"]

    result = add_features(tiny, names)

    assert list(result.columns) == [*RAW_FEATURES, *names]
    assert result["income_category_encoded"].tolist() == [0, 2, 3]
    np.testing.assert_allclose(result["bedrooms_ratio"], [0.2, 0.5, 0.25])
    pd.testing.assert_frame_equal(result[RAW_FEATURES], tiny)


def test_add_features_without_names_returns_the_same_data(tiny):
    result = add_features(tiny, [])

    pd.testing.assert_frame_equal(result, tiny)


def test_unknown_feature_name_is_named_in_the_error(tiny):
    with pytest.raises(ValueError, match=r"Unknown feature\(s\) \['rooms_per_person'\]"):
        add_features(tiny, ["bedrooms_ratio", "rooms_per_person"])


def test_add_features_does_not_mutate_its_input(tiny):
    before = tiny.copy(deep=True)

    add_features(tiny, ALL_FEATURES)

    pd.testing.assert_frame_equal(tiny, before)


def test_feature_engineer_in_a_pipeline_matches_add_features(small_raw):
    features = small_raw[RAW_FEATURES]
    pipeline = Pipeline([("features", FeatureEngineer(features=ALL_FEATURES))])

    transformed = pipeline.fit(features).transform(features)

    pd.testing.assert_frame_equal(transformed, add_features(features, ALL_FEATURES))
    assert list(pipeline.get_feature_names_out()) == [*RAW_FEATURES, *ALL_FEATURES]


def test_feature_engineer_restores_the_fitted_column_order(small_raw):
    features = small_raw[RAW_FEATURES]
    engineer = FeatureEngineer(features=["bedrooms_ratio"]).fit(features)

    transformed = engineer.transform(features[RAW_FEATURES[::-1]])

    pd.testing.assert_frame_equal(transformed, add_features(features, ["bedrooms_ratio"]))


def test_feature_engineer_feeds_a_regressor_and_survives_clone(small_raw):
    features, target = small_raw[RAW_FEATURES], small_raw[TARGET]
    model = Pipeline(
        [("features", FeatureEngineer(features=ALL_FEATURES)), ("model", LinearRegression())]
    )

    fitted = clone(model).fit(features, target)

    assert fitted.named_steps["model"].n_features_in_ == len(RAW_FEATURES) + len(ALL_FEATURES)
    assert fitted.predict(features).shape == (200,)


def test_feature_engineer_rejects_unknown_names_at_fit(small_raw):
    engineer = FeatureEngineer(features=["rooms_per_person"])

    with pytest.raises(ValueError, match="'rooms_per_person'"):
        engineer.fit(small_raw[RAW_FEATURES])


def test_feature_engineer_gives_a_matrix_the_same_values_as_a_frame():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {name: rng.uniform(1.0, 12.0, 40) for name in RAW_FEATURES}
    )  # MedInc spans every income category
    engineer = FeatureEngineer(list(FEATURES)).fit(frame)

    from_matrix = engineer.transform(frame.to_numpy())
    from_frame = engineer.transform(frame)

    assert isinstance(from_matrix, np.ndarray)
    np.testing.assert_array_equal(from_matrix, from_frame.to_numpy())
    with pytest.raises(ValueError, match="Expected a matrix of 8 columns"):
        engineer.transform(frame.to_numpy()[:, :7])
