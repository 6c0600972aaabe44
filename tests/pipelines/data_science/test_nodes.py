import copy

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from california_housing.pipelines.data_science.nodes import (
    evaluate_predictions,
    fit_model,
    plot_predictions,
    predict_test,
)
from california_housing.schema import RAW_FEATURES, TARGET
from tests.helpers import project_parameters, version_splits

PARAMETERS = project_parameters()
V3 = PARAMETERS["versions"]["v3"]
LINEAR = PARAMETERS["models"]["linear"]
SMALL_FOREST = {
    "class": "sklearn.ensemble.RandomForestRegressor",
    "params": {"n_estimators": 10, "max_depth": 5, "n_jobs": 1},
}
METRICS = {"rmse", "mae", "r2", "mape"}


@pytest.fixture(scope="module")
def v3_data(generated_raw):
    """A few hundred generated v3 rows (train, test) and the common holdout within that test."""
    splits, holdout = version_splits(generated_raw, PARAMETERS)
    train, test = splits["v3"]
    train, test = train.head(400), test.head(120)
    holdout = holdout[holdout["row_id"].isin(test.index)].reset_index(drop=True)
    return train, test, holdout


@pytest.fixture
def train(v3_data):
    return v3_data[0].copy()


@pytest.fixture
def test_rows(v3_data):
    return v3_data[1].copy()


@pytest.fixture
def holdout_ids(v3_data):
    return v3_data[2].copy()


# ---------------------------------------------------------------------------- fit_model


def test_fit_model_returns_a_fitted_pipeline_on_the_raw_columns(train, test_rows):
    model, train_seconds = fit_model(train, LINEAR, V3, seed=42)

    assert isinstance(model, Pipeline)
    check_is_fitted(model)
    assert list(model.feature_names_in_) == RAW_FEATURES
    assert list(model[-1].feature_names_in_) == [*RAW_FEATURES, *V3["features"]]
    predictions = model.predict(test_rows[RAW_FEATURES])
    assert predictions.shape == (len(test_rows),)
    assert np.isfinite(predictions).all()
    assert isinstance(train_seconds, float)
    assert train_seconds > 0


def test_fit_model_adds_the_neighbourhood_step_of_a_version_that_has_one(generated_raw):
    v4 = PARAMETERS["versions"]["v4"]
    splits, _ = version_splits(generated_raw, PARAMETERS)
    train, test = splits["v4"]

    model, _ = fit_model(train, LINEAR, v4, seed=42)

    assert [name for name, _ in model.steps] == ["features", "neighbourhood", "model"]
    neighbourhood = model.named_steps["neighbourhood"]
    assert neighbourhood.k == v4["neighbourhood"]["k"]
    assert neighbourhood.random_state == 42  # the seed, unless the version sets one
    np.testing.assert_array_equal(neighbourhood.targets_, train[TARGET])  # train rows only
    assert list(model[-1].feature_names_in_) == [
        *RAW_FEATURES,
        *v4["features"],
        "neighbours_target_mean",
        "neighbours_target_median",
        "neighbours_distance_km",
        "wide_neighbours_target_mean",
    ]
    assert np.isfinite(model.predict(test[RAW_FEATURES])).all()


def test_fit_model_is_deterministic_under_the_seed(train, test_rows):
    X = test_rows[RAW_FEATURES]

    first, _ = fit_model(train, SMALL_FOREST, V3, seed=42)
    second, _ = fit_model(train, SMALL_FOREST, V3, seed=42)
    other_seed, _ = fit_model(train, SMALL_FOREST, V3, seed=7)

    np.testing.assert_array_equal(first.predict(X), second.predict(X))
    assert not np.array_equal(first.predict(X), other_seed.predict(X))


def test_fit_model_leaves_its_inputs_unchanged(train):
    before = train.copy()
    model = copy.deepcopy(SMALL_FOREST)
    version = copy.deepcopy(V3)

    fit_model(train, model, version, seed=42)

    pd.testing.assert_frame_equal(train, before)
    assert model == SMALL_FOREST
    assert version == V3


# ------------------------------------------------------------------------- predict_test


def test_predict_test_keeps_the_row_ids_and_the_actual_target(train, test_rows):
    model, _ = fit_model(train, LINEAR, V3, seed=42)
    before = test_rows.copy()

    predictions = predict_test(model, test_rows)

    assert list(predictions.columns) == ["actual", "predicted"]
    pd.testing.assert_index_equal(predictions.index, test_rows.index)
    assert predictions.index.name == "row_id"
    pd.testing.assert_series_equal(predictions["actual"], test_rows[TARGET], check_names=False)
    np.testing.assert_allclose(predictions["predicted"], model.predict(test_rows[RAW_FEATURES]))
    pd.testing.assert_frame_equal(test_rows, before)


# ----------------------------------------------------------------- evaluate_predictions


def _perfect_on_holdout_only(test_rows, holdout_ids):
    """Predictions exact on the holdout rows and 0.5 too high everywhere else."""
    actual = test_rows[TARGET]
    off = np.where(test_rows.index.isin(holdout_ids["row_id"]), 0.0, 0.5)
    return pd.DataFrame({"actual": actual, "predicted": actual + off}, index=test_rows.index)


def test_evaluate_predictions_scores_the_holdout_on_holdout_rows_only(test_rows, holdout_ids):
    half = holdout_ids.iloc[: len(holdout_ids) // 2].reset_index(drop=True)
    predictions = _perfect_on_holdout_only(test_rows, half)
    n_off = len(test_rows) - len(half)
    assert 0 < len(half) < len(test_rows)

    population = predictions.assign(predicted=predictions["actual"] + 1.0)  # 1.0 off everywhere

    metrics, _ = evaluate_predictions(predictions, population, half, train_seconds=1.5)

    assert metrics["population_rmse"] == pytest.approx(1.0)
    assert metrics["n_population"] == float(len(population))
    assert metrics["holdout_rmse"] == 0.0
    assert metrics["holdout_mae"] == 0.0
    assert metrics["holdout_r2"] == 1.0
    assert metrics["rmse"] == pytest.approx(np.sqrt(0.25 * n_off / len(test_rows)))
    assert metrics["mae"] == pytest.approx(0.5 * n_off / len(test_rows))
    assert metrics["n_test"] == float(len(test_rows))
    assert metrics["n_holdout"] == float(len(half))
    assert metrics["train_seconds"] == 1.5
    assert set(metrics) == {
        *METRICS,
        *(f"holdout_{name}" for name in METRICS),
        *(f"population_{name}" for name in METRICS),
        "n_test",
        "n_holdout",
        "n_population",
        "train_seconds",
    }


def test_evaluate_predictions_also_returns_kedro_mlflow_form(test_rows, holdout_ids):
    predictions = _perfect_on_holdout_only(test_rows, holdout_ids)

    metrics, mlflow_metrics = evaluate_predictions(
        predictions, predictions, holdout_ids, train_seconds=0.2
    )

    assert mlflow_metrics == {name: {"value": value, "step": 0} for name, value in metrics.items()}


def test_evaluate_predictions_refuses_holdout_rows_missing_from_predictions(test_rows, holdout_ids):
    predictions = _perfect_on_holdout_only(test_rows, holdout_ids)
    missing_id = holdout_ids["row_id"].iloc[0]
    without_one = predictions.drop(index=missing_id)

    with pytest.raises(ValueError, match="1 common-holdout rows are not in this version's test"):
        evaluate_predictions(without_one, predictions, holdout_ids, train_seconds=0.2)


def test_evaluate_predictions_leaves_its_inputs_unchanged(test_rows, holdout_ids):
    predictions = _perfect_on_holdout_only(test_rows, holdout_ids)
    predictions_before, holdout_before = predictions.copy(), holdout_ids.copy()

    evaluate_predictions(predictions, predictions, holdout_ids, train_seconds=0.2)

    pd.testing.assert_frame_equal(predictions, predictions_before)
    pd.testing.assert_frame_equal(holdout_ids, holdout_before)


# ---------------------------------------------------------------------- plot_predictions


def test_plot_predictions_returns_a_titled_figure_outside_pyplot(train, test_rows, holdout_ids):
    model, _ = fit_model(train, LINEAR, V3, seed=42)
    predictions = _perfect_on_holdout_only(test_rows, holdout_ids)
    before = predictions.copy()
    open_before = plt.get_fignums()

    figure = plot_predictions(predictions, model, "v3.linear")

    assert isinstance(figure, Figure)
    assert len(figure.axes) == 2
    assert figure.get_suptitle() == (
        f"v3.linear (LinearRegression): own test split, {len(test_rows):,} rows, "
        "MedHouseVal in $100,000"
    )
    assert plt.get_fignums() == open_before
    pd.testing.assert_frame_equal(predictions, before)
