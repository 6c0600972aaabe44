"""The prediction log's catalog datasets over a SQLite log written with the service's tables."""

import sqlite3
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io import DatasetError

from california_housing.datasets import PredictionLogDataset
from california_housing.datasets.california_housing_dataset import synthetic_california_housing
from california_housing.schema import PREDICTION, RAW_FEATURES, TARGET
from california_housing.serving.log.synthetic import log_rows, write_log
from tests.helpers import REPO_ROOT

START = datetime(2026, 1, 2, tzinfo=UTC)
WINDOW = {"since": "2026-01-02T00:00:00", "until": "2026-01-02T00:01:00"}  # UTC: no offset


@pytest.fixture
def log_url(tmp_path):
    """A log of 100 predictions one second apart from START, every 4th with feedback."""
    rows = synthetic_california_housing(rows=100, seed=3)
    logged, fed = log_rows(rows, np.full(100, 2.0), start=START, feedback_every=4)
    url = f"sqlite:///{tmp_path}/log.db"
    write_log(url, logged, fed)
    return url


def _catalog(name: str, url: str, **changes) -> PredictionLogDataset:
    """The entry of conf/base/catalog.yml, pointed at ``url`` (and at no archive)."""
    entry = yaml.safe_load((REPO_ROOT / "conf/base/catalog.yml").read_text())[name]
    arguments = {"query": entry["query"], "credentials": {"con": url}} | changes
    return PredictionLogDataset(**arguments)


def _values(url: str, window: dict, rows: int = 25) -> np.ndarray:
    chunks = list(_catalog("monitoring_predictions", url, window=window, chunk_rows=rows).load())
    assert all(len(chunk) <= rows for chunk in chunks)
    return np.concatenate(chunks) if chunks else np.zeros((0, 12))


def test_the_window_holds_the_predictions_logged_in_it(log_url):
    chunks = _catalog("monitoring_predictions", log_url, window=WINDOW, chunk_rows=25).load()
    values = _values(log_url, WINDOW)

    assert len(values) == 60  # seconds 0..59: since inclusive, until exclusive
    assert chunks.columns[1:10] == [*RAW_FEATURES, PREDICTION]
    assert (values[:, chunks.columns.index(PREDICTION)] == 2.0).all()
    assert len(list(chunks)) == len(list(chunks)) == 3  # read again at each iteration
    volumes = _catalog("monitoring_volumes", log_url, window=WINDOW).load()
    assert volumes[["model_version", "rows"]].to_numpy().tolist() == [[1, 60]]
    assert volumes["first_prediction_at"].iloc[0] == START
    assert str(volumes["first_prediction_at"].dt.tz) == "UTC"


def test_a_window_read_in_part_lets_go_of_the_log(log_url):
    chunks = iter(_catalog("monitoring_predictions", log_url, window=WINDOW, chunk_rows=10).load())
    next(chunks)
    chunks.close()  # as when the node reading it fails

    writer = sqlite3.connect(log_url.removeprefix("sqlite:///"), timeout=0)
    writer.execute("BEGIN EXCLUSIVE")  # "database is locked" while a read is open
    writer.rollback()


def test_a_window_with_an_offset_is_the_same_instant(log_url):
    paris = {"since": "2026-01-02T01:00:00+01:00", "until": "2026-01-02T01:01:00+01:00"}

    assert len(_values(log_url, paris)) == 60


def test_the_feedback_of_the_window_and_every_labelled_row(log_url):
    window_feedback = _catalog("monitoring_labelled", log_url, window=WINDOW).load()
    labelled = _catalog("labelled_feedback", log_url).load()

    assert len(window_feedback) == 15  # every 4th of the 60
    assert {"prediction_id", "created_at", "Latitude", PREDICTION, TARGET} <= set(
        window_feedback.columns
    )
    assert len(labelled) == 25  # every 4th of the 100
    assert labelled["received_at"].is_monotonic_increasing
    assert {*RAW_FEATURES, TARGET, "model_version", "created_at"} <= set(labelled.columns)
    assert (labelled["received_at"] - labelled["created_at"]).eq(pd.Timedelta(seconds=30)).all()


def test_a_bad_window_or_query_is_named():
    with pytest.raises(DatasetError, match=r"since 'last week' is not a time.*ISO 8601"):
        PredictionLogDataset(
            query="window_values",
            credentials={"con": "sqlite:////tmp/x.db"},
            window={"since": "last week", "until": "2026-01-01"},
        )
    with pytest.raises(DatasetError, match="needs `window"):
        PredictionLogDataset(query="window_labelled", credentials={"con": "sqlite:////tmp/x.db"})
    with pytest.raises(DatasetError, match="Unknown prediction log query 'all'"):
        PredictionLogDataset(query="all", credentials={"con": "sqlite:////tmp/x.db"})


def test_a_log_that_was_never_written_says_how_to_make_one(tmp_path):
    dataset = _catalog("labelled_feedback", f"sqlite:///{tmp_path}/never.db")

    with pytest.raises(DatasetError, match=r"(?s)no such table: feedback.*kedro serve"):
        dataset.load()


def test_the_log_is_load_only(log_url):
    with pytest.raises(DatasetError, match="load-only: `kedro serve` writes"):
        _catalog("labelled_feedback", log_url).save(pd.DataFrame())


def test_the_default_window_ends_now(log_url):
    now = datetime.now(UTC)
    window = {"since": now - timedelta(hours=1), "until": now}

    assert len(_values(log_url, window)) == 0
    assert _catalog("monitoring_volumes", log_url, window=window).load().empty
