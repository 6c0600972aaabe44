import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.base import clone
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

from california_housing.features import (
    FEATURES,
    METRO_CENTRES,
    FeatureEngineer,
    NeighbourhoodFeatures,
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


def test_registry_lists_v3s_features_then_the_geographic_ones():
    geographic = [f"distance_to_{name}" for name in METRO_CENTRES] + [
        f"rotated_{degrees}" for degrees in (15, 30, 45, 60)
    ]

    assert list(FEATURES) == ALL_FEATURES + geographic


def test_distance_to_a_metro_centre_is_its_great_circle_distance_in_km():
    los_angeles, san_francisco = METRO_CENTRES["los_angeles"], METRO_CENTRES["san_francisco"]
    frame = pd.DataFrame(
        {
            "Latitude": [los_angeles[0], san_francisco[0]],
            "Longitude": [los_angeles[1], san_francisco[1]],
        }
    )

    result = FEATURES["distance_to_los_angeles"](frame)

    assert result[0] == pytest.approx(0.0, abs=1e-6)
    assert result[1] == pytest.approx(559.0, abs=2.0)  # LA to SF city halls: ~559 km


def test_rotated_coordinates_turn_the_axes(tiny):
    np.testing.assert_allclose(
        FEATURES["rotated_45"](tiny), (tiny["Longitude"] + tiny["Latitude"]) / np.sqrt(2)
    )
    np.testing.assert_allclose(
        FEATURES["rotated_60"](tiny), 0.5 * tiny["Longitude"] + np.sqrt(0.75) * tiny["Latitude"]
    )


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


# ------------------------------------------------------------------ NeighbourhoodFeatures


def haversine_km(lat, lon, lat0, lon0):
    """Great-circle distance by the haversine formula, written out independently."""
    lat, lon, lat0, lon0 = map(np.radians, (lat, lon, lat0, lon0))
    a = np.sin((lat - lat0) / 2) ** 2 + np.cos(lat) * np.cos(lat0) * np.sin((lon - lon0) / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(a))


@pytest.fixture
def places(generated_raw):
    """300 rows of generated block groups: the raw columns and the target."""
    rows = generated_raw.head(300)
    return rows[RAW_FEATURES].reset_index(drop=True), rows[TARGET].to_numpy()


def test_a_new_row_gets_the_statistics_of_its_k_nearest_training_rows(places):
    X, y = places
    step = NeighbourhoodFeatures(k=5, k_wide=12).fit(X, y)
    row = pd.DataFrame([X.iloc[0].to_dict() | {"Latitude": 36.0, "Longitude": -120.0}])

    result = step.transform(row)

    km = haversine_km(X["Latitude"], X["Longitude"], 36.0, -120.0)
    nearest = np.argsort(km.to_numpy())[:5]
    assert list(result.columns) == [*RAW_FEATURES, *NeighbourhoodFeatures.OUTPUTS]
    assert result["neighbours_target_mean"].iloc[0] == pytest.approx(y[nearest].mean())
    assert result["neighbours_target_median"].iloc[0] == pytest.approx(np.median(y[nearest]))
    assert result["neighbours_distance_km"].iloc[0] == pytest.approx(km.iloc[nearest].mean())
    wide = np.argsort(km.to_numpy())[:12]
    assert result["wide_neighbours_target_mean"].iloc[0] == pytest.approx(y[wide].mean())


def test_a_training_row_never_sees_its_own_target(places):
    X, y = places
    own = ["neighbours_target_mean", "neighbours_target_median", "wide_neighbours_target_mean"]
    step = NeighbourhoodFeatures(k=5, k_wide=10, folds=5, random_state=0)
    before = step.fit_transform(X, y)

    for row in range(10):  # one absurd target at a time: only a row using its own shows it
        changed = y.copy()
        changed[row] = 1000.0
        after = clone(step).fit_transform(X, changed)

        pd.testing.assert_series_equal(after.loc[row, own], before.loc[row, own])
    # fit-then-transform would use each row's own target (its own place is nearest):
    leaky = clone(step).fit(X, changed).transform(X)
    assert leaky.loc[9, "neighbours_target_mean"] > 100


def test_the_neighbour_index_holds_the_training_rows_only(places):
    X, y = places
    train, test = X.iloc[:200], X.iloc[200:]
    model = Pipeline(
        [("neighbourhood", NeighbourhoodFeatures(k=5)), ("model", LinearRegression())]
    ).fit(train, y[:200])

    step = model.named_steps["neighbourhood"]
    np.testing.assert_array_equal(step.targets_, y[:200])
    assert len(step.points_) == 200
    assert model.predict(test).shape == (100,)


def test_a_matrix_gets_the_same_values_as_a_frame(places):
    X, y = places
    step = NeighbourhoodFeatures(k=5).fit(X, y)

    from_matrix = step.transform(X.to_numpy())

    assert isinstance(from_matrix, np.ndarray)
    np.testing.assert_array_equal(from_matrix, step.transform(X).to_numpy())


def test_the_fitted_step_survives_joblib_and_skops_and_rebuilds_its_index(places, tmp_path):
    X, y = places
    step = NeighbourhoodFeatures(k=5).fit(X, y)
    joblib.dump(step, tmp_path / "step.joblib")
    trusted = ["california_housing.features.NeighbourhoodFeatures"]

    for restored in (
        joblib.load(tmp_path / "step.joblib"),
        skops.io.loads(skops.io.dumps(step), trusted=trusted),
    ):
        pd.testing.assert_frame_equal(restored.transform(X), step.transform(X))
    assert hasattr(step, "tree_")  # saving did not take the fitted object's index away


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda X, y: (X.drop(columns="Latitude"), y), r"needs columns \['Latitude'\]"),
        (lambda X, y: (X.head(30), y[:30]), "more than k_wide rows"),
        (lambda X, y: (X, None), r"needs the targets"),
    ],
)
def test_bad_training_input_is_named(places, change, message):
    X, y = change(*places)

    with pytest.raises(ValueError, match=message):
        NeighbourhoodFeatures(k=5, k_wide=30).fit(X, y)


def test_a_wide_neighbourhood_smaller_than_k_is_refused(places):
    with pytest.raises(ValueError, match=r"1 <= k <= k_wide, got 10, 5"):
        NeighbourhoodFeatures(k=10, k_wide=5).fit(*places)
