"""The prediction log on PostgreSQL: ``kedro serve`` with ``SERVING_LOG_DB_URL`` set to it,
and the catalog's queries of the log reading it as they read a SQLite one.

The service logs to its own database of the throwaway cluster (``postgres`` fixture). The
outage is that database refusing connections (``ALLOW_CONNECTIONS false`` and its sessions
ended), which leaves the cluster up for the other integration tests.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd
import psycopg
import pytest
import yaml

from california_housing.datasets import PredictionLogDataset
from california_housing.datasets.california_housing_dataset import synthetic_california_housing
from california_housing.serving.log.synthetic import log_rows, write_log
from tests.conftest import REPO_ROOT
from tests.serving.conftest import ROW, start_server, wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _admin(postgres, sql: str, params: tuple = ()) -> None:
    dsn = f"postgresql://postgres@127.0.0.1:{postgres.port}/postgres"
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(sql, params)


def _logged_ids(postgres, database: str) -> set[str]:
    dsn = f"postgresql://postgres@127.0.0.1:{postgres.port}/{database}"
    with psycopg.connect(dsn) as connection:
        return {row[0] for row in connection.execute("SELECT prediction_id FROM predictions")}


def test_log_on_postgresql_survives_the_database_going_away(postgres, project, tmp_path):
    database = f"prediction_log_{uuid.uuid4().hex[:8]}"
    url = postgres.create_database(database)
    with start_server(project, tmp_path, extra_env={"SERVING_LOG_DB_URL": url}) as server:
        wait_ready(server)
        client = server.client()
        first = client.post("/predict", json={"rows": [ROW, ROW]}).json()["predictions"]
        feedback = client.post(
            "/feedback", json={"feedback": [{"prediction_id": first[0]["prediction_id"],
                                             "MedHouseVal": 3.1}]},
        )  # fmt: skip
        page = client.get("/predictions", params={"limit": 5}).json()

        _admin(postgres, f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        _admin(
            postgres,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (database,),
        )
        wait_ready(server, ready=False, timeout=30)
        during = client.post("/predict", json={"rows": [ROW] * 3})
        _admin(postgres, f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        wait_ready(server, timeout=30)
        client.get("/predictions", params={"limit": 1})  # waits until written
        client.close()

    assert feedback.json() == {"received": 1}
    assert page["total"] == 2
    assert {i["prediction_id"]: i["MedHouseVal"] for i in page["items"]}[
        first[0]["prediction_id"]
    ] == pytest.approx(3.1)
    assert during.status_code == 200  # buffered while the database was away
    acknowledged = {p["prediction_id"] for p in first + during.json()["predictions"]}
    assert acknowledged <= _logged_ids(postgres, database)


def test_the_catalogs_log_queries_read_postgresql_as_they_read_sqlite(postgres, tmp_path):
    rows = synthetic_california_housing(rows=200, seed=5)
    start = datetime(2026, 1, 2, tzinfo=UTC)
    logged, fed = log_rows(rows, rows["MedHouseVal"].to_numpy(), start=start, feedback_every=3)
    urls = {
        "postgresql": postgres.create_database(f"log_queries_{uuid.uuid4().hex[:8]}"),
        "sqlite": f"sqlite:///{tmp_path}/log.db",
    }
    catalog = yaml.safe_load((REPO_ROOT / "conf/base/catalog.yml").read_text())
    window = {"since": "2026-01-02T00:00:30", "until": "2026-01-02T00:02:30"}  # 120 rows
    read = {}
    for backend, url in urls.items():
        write_log(url, logged, fed)
        read[backend] = {
            name: PredictionLogDataset(
                query=catalog[name]["query"], credentials={"con": url}, window=window
            ).load()
            for name in ("monitoring_predictions", "monitoring_feedback", "labelled_feedback")
        }

    predictions = read["postgresql"]["monitoring_predictions"]
    assert len(predictions) == 120
    assert predictions["created_at"].min() == start + timedelta(seconds=30)
    assert len(read["postgresql"]["labelled_feedback"]) == len(fed)
    for name, frame in read["sqlite"].items():
        by_id = frame.sort_values("prediction_id").reset_index(drop=True)
        other = read["postgresql"][name].sort_values("prediction_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(by_id, other, check_dtype=False)
