import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from california_housing.modelling import make_model
from california_housing.pipelines.inference.nodes import score_rows, validate_rows
from california_housing.schema import RAW_FEATURES, TARGET, RawDataValidationError
from tests.test_scoring import generated_rows

VERSIONS = {
    "v1": {"filters": {}, "features": []},
    "v2": {"filters": {TARGET: {"le": 5.0}, "Longitude": {"lt": -119.0}}, "features": []},
}


@pytest.fixture(scope="module")
def champion():
    rows = generated_rows(200)
    model = make_model(LinearRegression(), []).fit(rows, 0.3 * rows["MedInc"])
    return {
        "model": model,
        "name": "california-housing",
        "version": 3,
        "candidate": "v2.linear",
        "data_version": "v2",
    }


def test_validate_rows_indexes_by_id_and_keeps_only_the_features():
    rows = generated_rows(4).astype({"HouseAge": "int64"}).assign(id=[10, 11, 12, 13])
    before = rows.copy()

    validated = validate_rows(rows, "id")

    assert list(validated.columns) == RAW_FEATURES
    assert validated.index.name == "id"
    assert validated.index.tolist() == [10, 11, 12, 13]
    assert (validated.dtypes == "float64").all()
    pd.testing.assert_frame_equal(rows, before)


def test_validate_rows_numbers_rows_without_an_id_column():
    validated = validate_rows(generated_rows(3), "id")

    assert validated.index.tolist() == [0, 1, 2]


def test_validate_rows_rejects_duplicate_ids():
    rows = generated_rows(3).assign(id=[1, 1, 2])

    with pytest.raises(ValueError, match="'id' has duplicate ids"):
        validate_rows(rows, "id")


@pytest.mark.parametrize("value", [np.inf, np.nan, 99.0])
def test_validate_rows_names_the_failing_column(value):
    rows = generated_rows(3)
    rows.loc[1, "Latitude"] = value

    with pytest.raises(RawDataValidationError, match="column 'Latitude'"):
        validate_rows(rows, "id")


def test_score_rows_predicts_flags_and_names_the_model(champion):
    rows = validate_rows(generated_rows(30, seed=4).assign(id=range(100, 130)), "id")

    scored = score_rows(rows, champion, VERSIONS)

    assert scored["id"].tolist() == list(range(100, 130))
    np.testing.assert_allclose(
        scored[f"predicted_{TARGET}"], champion["model"].predict(rows[RAW_FEATURES])
    )
    east = (rows["Longitude"] >= -119.0).to_numpy()
    assert scored["out_of_domain"].tolist() == east.tolist()
    assert set(scored.loc[east, "domain_violations"]) <= {"Longitude lt -119.0"}
    assert set(scored.loc[~east, "domain_violations"]) <= {""}
    assert set(scored["model_version"]) == {3}
    assert set(scored["candidate"]) == {"v2.linear"}


def test_score_rows_of_an_unfiltered_version_flags_nothing(champion):
    rows = validate_rows(generated_rows(10), "id")

    scored = score_rows(rows, champion | {"data_version": "v1"}, VERSIONS)

    assert not scored["out_of_domain"].any()


def test_score_rows_without_a_champion_says_how_to_get_one():
    with pytest.raises(ValueError, match="no champion yet"):
        score_rows(validate_rows(generated_rows(2), "id"), {}, VERSIONS)
