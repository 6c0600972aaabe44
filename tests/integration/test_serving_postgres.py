"""The prediction log on PostgreSQL: ``kedro serve`` with ``SERVING_LOG_DB_URL`` set to it.

The service logs to its own database of the throwaway cluster (``postgres`` fixture). The
outage is that database refusing connections (``ALLOW_CONNECTIONS false`` and its sessions
ended), which leaves the cluster up for the other integration tests.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest

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
