import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure
from sklearn.base import RegressorMixin, is_regressor
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression

from california_housing.modelling import (
    build_estimator,
    feature_steps,
    make_model,
    predictions_figure,
    regression_metrics,
)
from california_housing.schema import RAW_FEATURES, TARGET
from tests.helpers import project_parameters

PARAMETERS = project_parameters()
MODELS = PARAMETERS["models"]
V3_FEATURES = list(PARAMETERS["versions"]["v3"]["features"])


# ---------------------------------------------------------------------- build_estimator


@pytest.mark.parametrize("key", sorted(MODELS))
def test_build_estimator_builds_every_configured_model(key):
    spec = MODELS[key]

    estimator = build_estimator(key, spec, seed=7)

    assert isinstance(estimator, RegressorMixin)
    assert type(estimator).__name__ == spec["class"].rpartition(".")[2]
    params = estimator.get_params()
    assert {name: params[name] for name in spec["params"]} == spec["params"]


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"class": "sklearn.linear_model.NoSuchRegressor"}, "cannot import"),
        ({"class": "no_such_package.Regressor"}, "cannot import"),
        ({"class": ".LinearRegression"}, "cannot import"),
        ({"class": "..LinearRegression"}, "cannot import"),
        ({"class": "LinearRegression"}, "dotted import path"),
        ({"class": None}, "dotted import path"),
        ({}, "dotted import path"),
        ({"class": "sklearn.preprocessing.StandardScaler"}, "not a scikit-learn regressor"),
        (
            {"class": "sklearn.linear_model.LinearRegression", "params": {"alpha": 1.0}},
            "bad parameters",
        ),
    ],
)
def test_build_estimator_error_names_the_model_key(spec, reason):
    with pytest.raises(ValueError, match=reason) as excinfo:
        build_estimator("my_model_key", spec)

    assert "'my_model_key'" in str(excinfo.value)


def test_build_estimator_applies_the_seed_as_random_state():
    spec = {"class": "sklearn.ensemble.RandomForestRegressor", "params": {"n_estimators": 5}}

    estimator = build_estimator("random_forest", spec, seed=123)

    assert isinstance(estimator, RandomForestRegressor)
    assert estimator.random_state == 123
    assert estimator.n_estimators == 5


def test_build_estimator_keeps_a_random_state_set_in_params():
    spec = {"class": "sklearn.ensemble.RandomForestRegressor", "params": {"random_state": 9}}

    estimator = build_estimator("random_forest", spec, seed=123)

    assert estimator.random_state == 9


def test_build_estimator_without_a_seed_leaves_random_state_unset():
    spec = {"class": "sklearn.ensemble.RandomForestRegressor"}

    estimator = build_estimator("random_forest", spec)

    assert estimator.random_state is None


def test_build_estimator_ignores_the_seed_when_the_estimator_has_no_random_state():
    spec = {"class": "sklearn.linear_model.LinearRegression", "params": {}}

    estimator = build_estimator("linear", spec, seed=123)

    assert isinstance(estimator, LinearRegression)
    assert "random_state" not in estimator.get_params()


def test_build_estimator_does_not_mutate_the_spec():
    spec = {"class": "sklearn.ensemble.RandomForestRegressor", "params": {"n_estimators": 5}}

    build_estimator("random_forest", spec, seed=1)

    assert spec == {
        "class": "sklearn.ensemble.RandomForestRegressor",
        "params": {"n_estimators": 5},
    }


# ------------------------------------------------------------------- regression_metrics


def test_regression_metrics_match_hand_computed_values():
    y_true = np.array([1.0, 2.0, 4.0, 5.0])
    y_pred = np.array([2.0, 2.0, 3.0, 5.0])  # errors -1, 0, 1, 0; mean(y_true) = 3

    metrics = regression_metrics(y_true, y_pred)

    assert set(metrics) == {"rmse", "mae", "r2", "mape"}
    assert metrics["rmse"] == pytest.approx(math.sqrt(2 / 4))
    assert metrics["mae"] == pytest.approx(2 / 4)
    assert metrics["r2"] == pytest.approx(1 - 2 / 10)  # SS_res 2, SS_tot 4 + 1 + 1 + 4
    assert metrics["mape"] == pytest.approx(100 * (1 / 1 + 0 + 1 / 4 + 0) / 4)  # 31.25 %
    assert all(type(value) is float for value in metrics.values())


def test_regression_metrics_of_perfect_predictions():
    y = np.array([1.5, 2.5, 3.5])

    metrics = regression_metrics(y, y.copy())

    assert metrics == {"rmse": 0.0, "mae": 0.0, "r2": 1.0, "mape": 0.0}


# ------------------------------------------------------------------ predictions_figure


def _point_cloud(ax, n_points):
    """The (x, y) of a panel's n points, whether drawn with ``plot`` or ``scatter``."""
    clouds = [line.get_xydata() for line in ax.lines]
    clouds += [collection.get_offsets() for collection in ax.collections]
    return next(np.asarray(xy) for xy in clouds if len(xy) == n_points)


def test_predictions_figure_has_two_panels_and_is_not_registered_with_pyplot():
    actual = np.array([1.0, 2.0, 3.0, 4.0])
    predicted = np.array([1.2, 1.8, 3.3, 3.9])
    open_before = plt.get_fignums()

    figure = predictions_figure(actual, predicted, "a title")

    assert isinstance(figure, Figure)
    assert len(figure.axes) == 2
    assert figure.get_suptitle() == "a title"
    scatter_ax, residual_ax = figure.axes
    np.testing.assert_allclose(_point_cloud(scatter_ax, 4), np.c_[actual, predicted])
    np.testing.assert_allclose(_point_cloud(residual_ax, 4), np.c_[predicted, actual - predicted])
    assert plt.get_fignums() == open_before


# -------------------------------------------------------------------------- make_model


def test_make_model_takes_raw_columns_and_adds_the_version_features(small_raw):
    X, y = small_raw[RAW_FEATURES], small_raw[TARGET]
    model = make_model(LinearRegression(), V3_FEATURES)

    model.fit(X, y)

    assert [name for name, _ in model.steps] == ["features", "model"]
    engineered = model[0].transform(X)
    assert list(engineered.columns) == [*RAW_FEATURES, *V3_FEATURES]
    assert list(model[-1].feature_names_in_) == [*RAW_FEATURES, *V3_FEATURES]
    assert model.predict(X).shape == (len(X),)
    assert is_regressor(model)


def test_feature_steps_add_a_neighbourhood_step_seeded_unless_set():
    seeded = feature_steps(V3_FEATURES, {"k": 7}, seed=3)
    fixed = feature_steps(V3_FEATURES, {"k": 7, "random_state": 11}, seed=3)

    assert [name for name, _ in seeded.steps] == ["features", "neighbourhood"]
    assert seeded[-1].get_params() | {"random_state": None} == {
        "k": 7,
        "k_wide": 30,
        "folds": 5,
        "random_state": None,
    }
    assert (seeded[-1].random_state, fixed[-1].random_state) == (3, 11)
    assert [name for name, _ in feature_steps(V3_FEATURES).steps] == ["features"]


def test_an_unknown_neighbourhood_setting_is_named():
    with pytest.raises(ValueError, match=r"Bad neighbourhood settings \{'radius': 3\}"):
        feature_steps([], {"radius": 3})
