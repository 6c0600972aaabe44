import urllib.error

import pandas as pd
import pytest
import sklearn.datasets._california_housing as sklearn_california_housing
from kedro.io import DatasetError

from california_housing import schema
from california_housing.datasets import CaliforniaHousingDataset
from california_housing.datasets.california_housing_dataset import CACHE_FILE
from california_housing.schema import RAW_FEATURES, TARGET


@pytest.fixture
def offline(monkeypatch):
    """Make scikit-learn's download fail as it does without network."""

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(sklearn_california_housing, "_fetch_remote", refuse)


def test_real_data_has_the_raw_columns(raw_frame):
    assert raw_frame.shape == (20_640, 9)
    assert list(raw_frame.columns) == [*RAW_FEATURES, TARGET]
    assert (raw_frame.dtypes == "float64").all()


def test_path_is_the_cache_when_scikit_learn_data_is_unset(monkeypatch, raw_frame):
    cache = str(CaliforniaHousingDataset().cache_dir)  # where raw_frame came from
    monkeypatch.delenv("SCIKIT_LEARN_DATA", raising=False)
    dataset = CaliforniaHousingDataset(path=cache)

    loaded = dataset.load()

    assert dataset.exists()
    pd.testing.assert_frame_equal(loaded, raw_frame)


def test_synthetic_source_matches_the_real_schema(raw_frame):
    synthetic = CaliforniaHousingDataset(source="synthetic").load()

    assert synthetic.shape == (20_640, 9)
    assert list(synthetic.columns) == list(raw_frame.columns)
    pd.testing.assert_series_equal(synthetic.dtypes, raw_frame.dtypes)
    schema.validate(synthetic)  # raises if any row is implausible


def test_synthetic_source_is_deterministic_by_seed():
    def load(seed):
        return CaliforniaHousingDataset(source="synthetic", synthetic_rows=500, seed=seed).load()

    first, again, other = load(seed=1), load(seed=1), load(seed=2)

    assert first.shape == (500, 9)
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)


def test_synthetic_source_needs_no_cache(monkeypatch, tmp_path, offline):
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path))
    dataset = CaliforniaHousingDataset(source="synthetic", synthetic_rows=50)

    loaded = dataset.load()

    assert dataset.exists()
    assert len(loaded) == 50
    assert list(tmp_path.iterdir()) == []


def test_unknown_source_is_rejected():
    with pytest.raises(DatasetError, match="unknown source 'kaggle'"):
        CaliforniaHousingDataset(source="kaggle")


def test_missing_cache_offline_explains_both_ways_out(monkeypatch, tmp_path, offline):
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path))
    dataset = CaliforniaHousingDataset()

    with pytest.raises(DatasetError) as excinfo:
        dataset.load()

    message = str(excinfo.value)
    assert not dataset.exists()
    assert f"not cached in {tmp_path}" in message
    assert CACHE_FILE in message
    assert "offline" in message
    assert "SCIKIT_LEARN_DATA" in message
    assert "--env synthetic" in message
    assert isinstance(excinfo.value.__cause__, urllib.error.URLError)


def test_save_is_refused(small_raw):
    with pytest.raises(DatasetError, match="read-only"):
        CaliforniaHousingDataset().save(small_raw)
