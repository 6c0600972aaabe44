"""The prediction log's catalog datasets over a SQLite log written with the service's tables."""

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
    """The entry of conf/base/catalog.yml, pointed at ``url``."""
    entry = yaml.safe_load((REPO_ROOT / "conf/base/catalog.yml").read_text())[name]
    arguments = {"query": entry["query"], "credentials": {"con": url}} | changes
    return PredictionLogDataset(**arguments)


def test_the_window_holds_the_predictions_logged_in_it(log_url):
    frame = _catalog("monitoring_predictions", log_url, window=WINDOW).load()

    assert len(frame) == 60  # seconds 0..59: since inclusive, until exclusive
    assert frame["created_at"].min() == START
    assert str(frame["created_at"].dt.tz) == "UTC"
    assert list(frame.columns[4:13]) == [*RAW_FEATURES, PREDICTION]
    assert frame[PREDICTION].eq(2.0).all()


def test_a_window_with_an_offset_is_the_same_instant(log_url):
    paris = {"since": "2026-01-02T01:00:00+01:00", "until": "2026-01-02T01:01:00+01:00"}

    assert len(_catalog("monitoring_predictions", log_url, window=paris).load()) == 60


def test_the_feedback_of_the_window_and_every_labelled_row(log_url):
    window_feedback = _catalog("monitoring_feedback", log_url, window=WINDOW).load()
    labelled = _catalog("labelled_feedback", log_url).load()

    assert len(window_feedback) == 15  # every 4th of the 60
    assert list(window_feedback.columns) == ["prediction_id", TARGET, "received_at"]
    assert len(labelled) == 25  # every 4th of the 100
    assert labelled["received_at"].is_monotonic_increasing
    assert {*RAW_FEATURES, TARGET, "model_version", "created_at"} <= set(labelled.columns)
    assert (labelled["received_at"] - labelled["created_at"]).eq(pd.Timedelta(seconds=30)).all()


def test_a_bad_window_or_query_is_named():
    with pytest.raises(DatasetError, match=r"since 'last week' is not a time.*ISO 8601"):
        PredictionLogDataset(
            query="window_predictions",
            credentials={"con": "sqlite:////tmp/x.db"},
            window={"since": "last week", "until": "2026-01-01"},
        )
    with pytest.raises(DatasetError, match="needs `window"):
        PredictionLogDataset(query="window_feedback", credentials={"con": "sqlite:////tmp/x.db"})
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

    assert _catalog("monitoring_predictions", log_url, window=window).load().empty
