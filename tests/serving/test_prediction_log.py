import sqlite3
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from california_housing.schema import RAW_FEATURES
from california_housing.serving.log.store import LogSchemaError, create_tables
from california_housing.serving.log.tables import FEEDBACK_COLUMNS, PREDICTION_COLUMNS
from california_housing.serving.log.writer import PredictionLog
from california_housing.serving.routes.predict import new_ids


def _prediction(version: int = 1, created_at: datetime | None = None, **changes) -> dict:
    """A row of the predictions table, as a dict (see ``_rows`` for what submit takes)."""
    row = {
        "prediction_id": uuid.uuid4().hex,
        "request_id": "r1",
        "created_at": created_at or datetime.now(UTC),
        "model_name": "california-housing",
        "model_version": version,
        **dict.fromkeys(RAW_FEATURES, 1.5),
        "predicted_MedHouseVal": 2.25,
        "out_of_domain": True,
        "domain_violations": '["Longitude lt -119.0"]',
        "latency_ms": 0.8,
    }
    return row | changes


def _rows(*rows: dict) -> list[tuple]:
    return [tuple(row[c] for c in PREDICTION_COLUMNS) for row in rows]


def _feedback(prediction_id: str, value: float) -> list[tuple]:
    row = {"prediction_id": prediction_id, "MedHouseVal": value, "received_at": datetime.now(UTC)}
    return [tuple(row[c] for c in FEEDBACK_COLUMNS)]


@pytest.fixture
def log(tmp_path):
    prediction_log = PredictionLog(
        f"sqlite:///{tmp_path / 'logs' / 'log.db'}",
        buffer_rows=10,
        batch_rows=4,
        flush_seconds=0.01,
        retry_seconds=0.01,
    )
    prediction_log.open()
    yield prediction_log
    prediction_log.close(timeout=1)


def _ids(db_path) -> set[str]:
    with sqlite3.connect(db_path) as db:
        return {row[0] for row in db.execute("SELECT prediction_id FROM predictions")}


def test_rows_are_written_with_their_values(log, tmp_path):
    rows = [_prediction() for _ in range(6)]

    assert log.submit(_rows(*rows))
    assert log.wait_written(10)

    total, page = log.page(limit=10, offset=0)
    assert total == 6
    assert {r["prediction_id"] for r in page} == {r["prediction_id"] for r in rows}
    first = next(r for r in page if r["prediction_id"] == rows[0]["prediction_id"])
    assert first["domain_violations"] == ["Longitude lt -119.0"]
    assert first["created_at"] == rows[0]["created_at"]
    assert first["out_of_domain"] is True
    assert first["MedHouseVal"] is None
    assert log.available
    assert log.buffered == 0


def test_feedback_follows_its_prediction_and_the_latest_value_wins(log):
    row = _prediction()
    log.submit(_rows(row))
    log.submit_feedback(_feedback(row["prediction_id"], 1.0))
    log.submit_feedback(_feedback(row["prediction_id"], 2.0))
    log.wait_written(10)

    _, page = log.page(limit=1, offset=0)

    assert page[0]["MedHouseVal"] == 2.0


def test_a_full_buffer_refuses_rows_and_queues_none_of_them(tmp_path):
    log = PredictionLog(f"sqlite:///{tmp_path / 'log.db'}", buffer_rows=5, flush_seconds=60)
    log.open()
    try:
        log._stop.set()  # no writes: the buffer only fills
        assert log.submit(_rows(*(_prediction() for _ in range(4))))

        assert not log.submit(_rows(_prediction(), _prediction()))
        assert log.buffered == 4
    finally:
        log._stop.clear()
        log.close(timeout=5)
    assert len(_ids(tmp_path / "log.db")) == 4


def test_unavailable_database_keeps_rows_and_recovers(log, tmp_path):
    folder = tmp_path / "logs"
    away = tmp_path / "away"
    rows = [_prediction() for _ in range(3)]
    folder.rename(away)  # the database disappears

    assert log.submit(_rows(*rows))
    assert not log.wait_written(0.5)
    assert not log.available
    assert log.buffered == 3

    away.rename(folder)
    assert log.wait_written(10)
    assert log.available
    assert _ids(folder / "log.db") == {r["prediction_id"] for r in rows}


def test_rows_left_at_shutdown_are_spilled_and_written_by_the_next_start(tmp_path):
    url = f"sqlite:///{tmp_path / 'logs' / 'log.db'}"
    spill = tmp_path / "spill" / "log.spill.jsonl"
    log = PredictionLog(url, flush_seconds=0.01, retry_seconds=0.01, spill_path=spill)
    log.open()
    (tmp_path / "logs").rename(tmp_path / "away")
    rows = [_prediction() for _ in range(3)]
    log.submit(_rows(*rows))
    log.submit_feedback(_feedback(rows[0]["prediction_id"], 4.0))

    spilled = log.close(timeout=0.2)

    (tmp_path / "away").rename(tmp_path / "logs")
    assert spilled == 4
    assert len(list(spill.parent.iterdir())) == 1
    restarted = PredictionLog(url, flush_seconds=0.01, spill_path=spill)
    restarted.open()
    restarted.wait_written(10)
    _, page = restarted.page(limit=10, offset=0)
    restarted.close()
    assert _ids(tmp_path / "logs" / "log.db") == {r["prediction_id"] for r in rows}
    by_id = {r["prediction_id"]: r for r in page}
    assert by_id[rows[0]["prediction_id"]]["MedHouseVal"] == 4.0
    assert by_id[rows[0]["prediction_id"]]["created_at"] == rows[0]["created_at"]
    assert not list(spill.parent.iterdir())


def test_known_ids_include_buffered_and_written_rows(log):
    written, buffered = _prediction(), _prediction()
    log.submit(_rows(written))
    log.wait_written(10)
    log._stop.set()
    log.submit(_rows(buffered))

    unknown = log.unknown_ids([written["prediction_id"], buffered["prediction_id"], "nope"])

    log._stop.clear()
    assert unknown == ["nope"]


def test_page_filters_by_version_and_time(log):
    now = datetime.now(UTC)
    old = _prediction(version=1, created_at=now - timedelta(hours=2))
    new = _prediction(version=2, created_at=now)
    log.submit(_rows(old, new))
    log.wait_written(10)

    assert log.page(limit=10, offset=0, model_version=2)[0] == 1
    assert log.page(limit=10, offset=0, since=now - timedelta(hours=1))[1][0]["model_version"] == 2
    assert log.page(limit=10, offset=0, until=now - timedelta(hours=1))[1][0]["model_version"] == 1
    total, page = log.page(limit=1, offset=1)
    assert (total, page[0]["prediction_id"]) == (2, old["prediction_id"])


def test_a_table_without_the_logs_columns_is_refused_naming_them(tmp_path):
    db_path = tmp_path / "other.db"
    with sqlite3.connect(db_path) as db:
        db.execute("CREATE TABLE predictions (prediction_id TEXT PRIMARY KEY, request_id TEXT)")

    log = PredictionLog(f"sqlite:///{db_path}")
    with pytest.raises(LogSchemaError, match=r"'predictions' without the columns \['created_at'"):
        log.open()

    with sqlite3.connect(db_path) as db:  # left as it was
        columns = [row[1] for row in db.execute("PRAGMA table_info(predictions)")]
    assert columns == ["prediction_id", "request_id"]


def test_creating_the_tables_is_idempotent(log):
    create_tables(log.store.engine)
    create_tables(log.store.engine)
    _, page = log.page(limit=1, offset=0)
    assert page == []


def test_in_memory_sqlite_is_refused_with_a_way_out():
    with pytest.raises(ValueError, match="needs a database file or server"):
        PredictionLog("sqlite://")


def test_new_ids_are_distinct_uuid4_hex():
    ids = new_ids(2000)

    assert len(set(ids)) == 2000
    assert all(uuid.UUID(hex=i).version == 4 and uuid.UUID(hex=i).hex == i for i in ids)
