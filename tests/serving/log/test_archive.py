"""The prediction log's archive: whole days out of the database, every row kept exactly once."""

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from california_housing.datasets import PredictionLogDataset
from california_housing.datasets.california_housing_dataset import synthetic_california_housing
from california_housing.serving.log import archive
from california_housing.serving.log.store import create_log_engine
from california_housing.serving.log.synthetic import log_rows, write_log
from california_housing.serving.log.tables import feedback, predictions

START = datetime(2026, 11, 1, tzinfo=UTC)
WINDOW = {"since": "2026-11-01T00:00:00", "until": "2026-11-06T00:00:00"}


@pytest.fixture
def log(tmp_path):
    """1,500 predictions every 288 s over five days from START, every 3rd with feedback."""
    rows = synthetic_california_housing(rows=1_500, seed=8)
    logged, fed = log_rows(rows, rows["MedHouseVal"].to_numpy() + 0.1, start=START,
                           seconds_apart=288, feedback_every=3)  # fmt: skip
    url = f"sqlite:///{tmp_path}/log.db"
    write_log(url, logged, fed)
    engine = create_log_engine(url)
    yield url, engine, logged, fed
    engine.dispose()


def _counts(engine) -> tuple[int, int]:
    with engine.connect() as connection:
        return tuple(
            connection.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (predictions, feedback)
        )


def _everything(url, location) -> dict[str, pd.DataFrame]:
    """What monitoring and retraining read of the five days, across database and archive."""
    read = {
        query: PredictionLogDataset(
            query=query, credentials={"con": url}, window=WINDOW, archive=location, chunk_rows=100
        ).load()
        for query in ("window_values", "window_traffic", "window_labelled")
    }
    read["labelled_feedback"] = PredictionLogDataset(
        query="labelled_feedback", credentials={"con": url}, archive=location
    ).load()
    read["window_values"] = pd.DataFrame(np.concatenate(list(read["window_values"])))
    return read


def _same(left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]) -> None:
    for name, frame in left.items():
        key = "prediction_id" if "prediction_id" in frame else list(frame.columns)
        ordered = [f.sort_values(key).reset_index(drop=True) for f in (frame, right[name])]
        pd.testing.assert_frame_equal(*ordered, check_dtype=False, obj=name)


@pytest.mark.parametrize("location", ["folder", "memory://archive"])
def test_old_days_move_to_the_archive_and_every_row_stays_once(log, tmp_path, location):
    url, engine, logged, _ = log
    location = str(tmp_path / "archive") if location == "folder" else location
    before = _everything(url, location)

    moved = archive.archive_before(engine, location, START + timedelta(days=3, hours=5))

    assert [day.day for day in moved] == [date(2026, 11, d) for d in (1, 2, 3)]
    assert sum(d.predictions for d in moved) == 900 and sum(d.feedback for d in moved) == 300
    assert _counts(engine) == (600, 200)
    archived = pd.concat(archive.read_day(location, "predictions", d.day) for d in moved)
    kept = pd.read_sql(select(predictions.c.prediction_id), engine)
    assert set(archived["prediction_id"]) | set(kept["prediction_id"]) == set(
        logged["prediction_id"]
    )
    assert not set(archived["prediction_id"]) & set(kept["prediction_id"])
    _same(_everything(url, location), before)
    assert archive.archive_before(engine, location, START + timedelta(days=3, hours=5)) == []


def test_a_crash_before_the_commit_loses_and_duplicates_nothing(log, tmp_path, monkeypatch):
    url, engine, _, _ = log
    location = str(tmp_path / "archive")
    before = _everything(url, location)
    real_write = archive._write

    def write_then_crash(fs, path, rows):
        real_write(fs, path, rows)
        if path.startswith(f"{location}/predictions/"):
            raise KeyboardInterrupt  # the process dies after the file, before the commit

    monkeypatch.setattr(archive, "_write", write_then_crash)
    with pytest.raises(KeyboardInterrupt):
        archive.archive_day(engine, location, date(2026, 11, 1))
    monkeypatch.undo()

    assert _counts(engine) == (1_500, 500)  # rolled back: the database still holds the day
    assert len(archive.read_day(location, "predictions", date(2026, 11, 1))) == 300  # and the file
    _same(_everything(url, location), before)  # read once each: the database's copy
    archive.archive_day(engine, location, date(2026, 11, 1))  # the next run merges
    assert _counts(engine) == (1_200, 400)
    assert len(archive.read_day(location, "predictions", date(2026, 11, 1))) == 300
    _same(_everything(url, location), before)
