import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from california_housing import schema
from california_housing.schema import RAW_FEATURES, TARGET, RawDataValidationError


def test_real_data_passes_and_comes_back_as_float64(raw_frame):
    validated = schema.validate(raw_frame)

    assert validated.shape == (20_640, 9)
    assert list(validated.columns) == [*RAW_FEATURES, TARGET]
    assert (validated.dtypes == "float64").all()
    pd.testing.assert_frame_equal(validated, raw_frame)


def test_missing_column_is_named(small_raw):
    frame = small_raw.drop(columns="AveRooms")

    with pytest.raises(RawDataValidationError) as excinfo:
        schema.validate(frame)

    message = str(excinfo.value)
    assert "column 'AveRooms'" in message
    assert "column_in_dataframe" in message
    assert "column 'california_housing_raw'" not in message


def test_missing_value_is_reported_with_its_column(small_raw):
    small_raw.loc[3, "HouseAge"] = np.nan

    with pytest.raises(RawDataValidationError, match="column 'HouseAge': check not_nullable"):
        schema.validate(small_raw)


@pytest.mark.parametrize("value", [np.inf, -np.inf])
@pytest.mark.parametrize("column", ["Population", "AveRooms", TARGET])
def test_non_finite_value_is_reported_with_its_column(small_raw, column, value):
    small_raw.loc[9, column] = value

    with pytest.raises(RawDataValidationError) as excinfo:
        schema.validate(small_raw)

    assert f"column '{column}': check finite failed (1 x; e.g. {value!r})" in str(excinfo.value)


def test_text_in_a_numeric_column_is_reported_with_its_column(small_raw):
    frame = small_raw.astype({"Population": object})
    frame.loc[5, "Population"] = "many"

    with pytest.raises(RawDataValidationError) as excinfo:
        schema.validate(frame)

    message = str(excinfo.value)
    assert "column 'Population': check coerce_dtype('float64')" in message
    assert "'many'" in message


@pytest.mark.parametrize(
    ("column", "value", "check"),
    [
        ("Latitude", 55.0, "less_than_or_equal_to(42.5)"),
        ("MedInc", -1.0, "greater_than(0.0)"),
        ("Longitude", 122.0, "less_than_or_equal_to(-114.0)"),  # sign flipped
        (TARGET, 500_001.0, "less_than_or_equal_to(5.00001)"),  # dollars, not 100k dollars
    ],
)
def test_out_of_range_value_is_reported_with_its_column(small_raw, column, value, check):
    small_raw.loc[7, column] = value

    with pytest.raises(RawDataValidationError) as excinfo:
        schema.validate(small_raw)

    assert f"column '{column}': check {check} failed (1 x; e.g. {value!r})" in str(excinfo.value)


def test_census_cap_of_the_target_is_allowed(small_raw):
    small_raw.loc[0, TARGET] = 5.00001

    validated = schema.validate(small_raw)

    assert validated.loc[0, TARGET] == 5.00001


def test_empty_frame_is_rejected(small_raw):
    with pytest.raises(RawDataValidationError, match="at least one row"):
        schema.validate(small_raw.iloc[0:0])


def test_all_failures_are_reported_in_one_error(small_raw):
    frame = small_raw.drop(columns="HouseAge")
    frame.loc[1, "MedInc"] = -1.0
    frame.loc[2, "AveOccup"] = np.nan
    frame.loc[3, "Latitude"] = 55.0

    with pytest.raises(RawDataValidationError) as excinfo:
        schema.validate(frame)

    message = str(excinfo.value)
    assert "(4 problem(s))" in message
    for expected in (
        "column 'HouseAge': check column_in_dataframe",
        "column 'MedInc': check greater_than(0.0)",
        "column 'AveOccup': check not_nullable",
        "column 'Latitude': check less_than_or_equal_to(42.5)",
    ):
        assert expected in message


def test_validate_does_not_mutate_its_input(small_raw):
    frame = small_raw.astype({"HouseAge": "int64"})
    frame.loc[4, "MedInc"] = -1.0
    before = frame.copy(deep=True)

    validated = schema.validate(frame.drop(index=4))
    with pytest.raises(RawDataValidationError):
        schema.validate(frame)

    pd.testing.assert_frame_equal(frame, before)
    assert validated["HouseAge"].dtype == "float64"


def test_features_only_frame_passes_without_target(small_raw):
    features = small_raw.drop(columns=TARGET)

    validated = schema.validate(features, with_target=False)

    assert list(validated.columns) == RAW_FEATURES
    with pytest.raises(RawDataValidationError, match=f"column '{TARGET}'"):
        schema.validate(features)


@pytest.mark.slow  # a fresh interpreter
def test_only_validation_imports_pandera():
    # Every `kedro` command imports the project's CLI, and the pipelines that do not
    # validate import the column names: neither should pay for pandera.
    code = (
        "import sys\n"
        "import california_housing.cli, california_housing.pipelines.data_science.nodes\n"
        "print(any(m.split('.')[0] == 'pandera' for m in sys.modules))\n"
        "california_housing.schema.raw_schema()\n"  # the control: validating does import it
        "print(any(m.split('.')[0] == 'pandera' for m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.split()[-2:] == ["False", "True"]  # after Kedro's logging set-up line
