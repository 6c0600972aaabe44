import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression
from xgboost import XGBRegressor

from california_housing.modelling import make_model
from california_housing.schema import RAW_FEATURES, TARGET
from california_housing.scoring import MatrixModel, feature_matrix, score

FILTERS = {TARGET: {"le": 5.0}, "Longitude": {"lt": -119.0}}


def generated_rows(n: int, seed: int = 0) -> pd.DataFrame:
    """Plausible raw rows (inside the schema's ranges), half of them east of -119."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "MedInc": rng.uniform(0.5, 15.0, n),
            "HouseAge": rng.integers(1, 52, n).astype(float),
            "AveRooms": rng.uniform(2.0, 9.0, n),
            "AveBedrms": rng.uniform(0.8, 1.5, n),
            "Population": rng.uniform(100.0, 5000.0, n),
            "AveOccup": rng.uniform(1.5, 5.0, n),
            "Latitude": rng.uniform(32.5, 41.9, n),
            "Longitude": rng.uniform(-124.0, -114.5, n),
        }
    )


@pytest.fixture(scope="module")
def model():
    rows = generated_rows(300)
    target = 0.4 * rows["MedInc"] + 0.01 * rows["HouseAge"]
    return make_model(LinearRegression(), ["rooms_per_household", "bedrooms_ratio"]).fit(
        rows, target
    )


def test_feature_matrix_is_the_raw_columns_in_order_as_float64():
    rows = generated_rows(5).astype({"HouseAge": "int64"})
    shuffled = rows[list(reversed(RAW_FEATURES))].assign(extra=1)

    matrix = feature_matrix(shuffled)

    assert matrix.dtype == np.float64
    assert matrix.flags.c_contiguous
    np.testing.assert_array_equal(matrix, rows[RAW_FEATURES].to_numpy(dtype=float))


def test_score_equals_the_models_own_predict_and_flags_outside_rows(model):
    rows = generated_rows(50, seed=1)

    scores = score(model, feature_matrix(rows), FILTERS)

    np.testing.assert_array_equal(scores.predictions, model.predict(rows))
    east = (rows["Longitude"] >= -119.0).to_numpy()
    assert scores.out_of_domain.tolist() == east.tolist()
    assert all(
        v == ["Longitude lt -119.0"] for v in np.array(scores.violations, dtype=object)[east]
    )
    assert len(scores) == 50


def test_score_of_one_row_equals_that_row_in_a_batch(model):
    matrix = feature_matrix(generated_rows(20, seed=2))

    batch = score(model, matrix, FILTERS)
    single = [score(model, matrix[i : i + 1], FILTERS) for i in range(20)]

    # BLAS may round a batch and a single row differently in the last bit
    np.testing.assert_allclose(batch.predictions, [s.predictions[0] for s in single], rtol=1e-12)
    assert batch.violations == [s.violations[0] for s in single]


def test_score_rejects_a_matrix_of_other_columns(model):
    with pytest.raises(ValueError, match="8 raw columns"):
        score(model, np.ones((3, 7)), FILTERS)


def test_matrix_model_runs_xgboost_pipelines_on_numpy_exactly():
    rows = generated_rows(200, seed=5)
    features = ["rooms_per_household", "income_category_encoded"]
    model = make_model(XGBRegressor(n_estimators=20, max_depth=3), features).fit(
        rows, 0.4 * rows["MedInc"]
    )
    matrix_model = MatrixModel(model)
    fresh = generated_rows(30, seed=6)

    assert matrix_model.fast
    np.testing.assert_array_equal(matrix_model.predict(feature_matrix(fresh)), model.predict(fresh))


def test_matrix_model_falls_back_to_a_frame_when_numpy_would_differ_or_warn(model):
    rows = generated_rows(10, seed=7)

    matrix_model = MatrixModel(model)  # sklearn warns about feature names on numpy input

    assert not matrix_model.fast
    np.testing.assert_array_equal(matrix_model.predict(feature_matrix(rows)), model.predict(rows))
