"""The contract endpoints of a real ``kedro serve`` on the e2e project's champion."""

import itertools
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import mlflow
import pandas as pd
import pytest

from california_housing.pipelines.inference.nodes import score_rows, validate_rows
from california_housing.schema import RAW_FEATURES, TARGET_UNIT
from tests.serving.conftest import API_KEY, EAST_ROW, INLAND_CAPPED, ROW, start_server, wait_ready

pytestmark = pytest.mark.slow

REGISTERED_MODEL = "california-housing-test"


@pytest.fixture(scope="module")
def client(served):
    with served.client() as http:
        yield http


def _predict(client, rows, **kwargs):
    return client.post("/predict", json={"rows": rows}, **kwargs)


def test_health_ready_and_model_describe_the_registrys_champion(client, project):
    registry = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project}/mlflow.db")
    champion = registry.get_model_version_by_alias(REGISTERED_MODEL, "champion")

    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready"}
    model = client.get("/model").json()

    assert model["name"] == REGISTERED_MODEL
    assert model["version"] == int(champion.version)
    assert model["candidate"] == champion.tags["candidate"]
    assert model["data_version"] == champion.tags["data_version"]
    assert model["population"] == "the whole state"
    assert model["population_rmse"] == pytest.approx(float(champion.tags["population_rmse"]))
    assert model["holdout_rmse"] == pytest.approx(float(champion.tags["holdout_rmse"]))
    assert model["run_id"] == champion.run_id
    assert model["domain"] == {}  # the whole-state version keeps every row
    assert datetime.fromisoformat(model["loaded_at"]) <= datetime.now(UTC)


def test_predict_answers_rows_in_order_and_logs_each_one(client, served):
    answer = _predict(client, [ROW, EAST_ROW, ROW], headers={"X-Request-ID": "req-1"})

    assert answer.status_code == 200
    body = answer.json()
    assert body["model_name"] == REGISTERED_MODEL
    first, east, third = body["predictions"]
    assert first["predicted_MedHouseVal"] == third["predicted_MedHouseVal"]
    assert first["unit"] == TARGET_UNIT  # "$100,000"
    assert (first["out_of_domain"], first["domain_violations"]) == (False, [])
    assert (east["out_of_domain"], east["domain_violations"]) == (False, [])  # LA is served
    assert len({p["prediction_id"] for p in body["predictions"]}) == 3
    assert answer.headers["x-request-id"] == "req-1"

    page = client.get("/predictions", params={"limit": 3}).json()
    logged = {item["prediction_id"]: item for item in page["items"]}
    assert set(logged) == {p["prediction_id"] for p in body["predictions"]}
    east_logged = logged[east["prediction_id"]]
    assert {k: east_logged[k] for k in RAW_FEATURES} == pytest.approx(EAST_ROW)
    assert east_logged["predicted_MedHouseVal"] == east["predicted_MedHouseVal"]
    assert east_logged["domain_violations"] == []
    assert east_logged["request_id"] == "req-1"
    assert east_logged["model_version"] == body["model_version"]
    assert east_logged["latency_ms"] > 0


def test_the_log_has_the_contract_schema(client, served):
    _predict(client, [ROW])
    client.get("/predictions", params={"limit": 1})  # waits until it is written

    with sqlite3.connect(served.db_path) as db:
        columns = {row[1]: row[2] for row in db.execute("PRAGMA table_info(predictions)")}
        feedback = {row[1]: row[2] for row in db.execute("PRAGMA table_info(feedback)")}
        journal = db.execute("PRAGMA journal_mode").fetchone()[0]

    assert list(columns) == [
        "prediction_id", "request_id", "created_at", "model_name", "model_version",
        *RAW_FEATURES, "predicted_MedHouseVal", "out_of_domain", "domain_violations",
        "latency_ms",
    ]  # fmt: skip
    assert columns["model_version"] == "INTEGER"
    assert columns["MedInc"] == "FLOAT"
    assert list(feedback) == ["prediction_id", "MedHouseVal", "received_at"]
    assert journal == "wal"


def test_api_and_batch_inference_give_identical_predictions_and_flags(client, project):
    rows = pd.read_csv(project / "data/01_raw/examples/new_houses.csv")
    payload = rows[RAW_FEATURES].to_dict(orient="records")
    registry = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project}/mlflow.db")
    version = registry.get_model_version_by_alias(REGISTERED_MODEL, "champion")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{project}/mlflow.db")
    try:
        model = mlflow.sklearn.load_model(f"models:/{REGISTERED_MODEL}/{version.version}")
    finally:
        mlflow.set_tracking_uri(previous)
    champion = {"model": model, "name": REGISTERED_MODEL, "version": int(version.version),
                "data_version": version.tags["data_version"]}  # fmt: skip
    versions = {"v1": {"filters": {}}, "v2": {"filters": INLAND_CAPPED},
                "v3": {"filters": INLAND_CAPPED}, "v4": {"filters": {}}}  # fmt: skip

    batch = score_rows(validate_rows(rows, "id"), champion, versions)
    served = _predict(client, payload).json()["predictions"]

    assert [p["predicted_MedHouseVal"] for p in served] == batch["predicted_MedHouseVal"].tolist()
    assert [p["out_of_domain"] for p in served] == batch["out_of_domain"].tolist()
    assert ["; ".join(p["domain_violations"]) for p in served] == batch["domain_violations"].fillna(
        ""
    ).tolist()


@pytest.mark.parametrize(
    ("rows", "location", "kind"),
    [
        ([ROW | {"MedInc": "8.3"}], ["body", "rows", 0, "MedInc"], "float_type"),
        ([ROW, ROW | {"Latitude": 55.0}], ["body", "rows", 1, "Latitude"], "less_than_equal"),
        ([ROW | {"AveRooms": -1}], ["body", "rows", 0, "AveRooms"], "greater_than"),
        ([{k: v for k, v in ROW.items() if k != "AveOccup"}], ["body", "rows", 0, "AveOccup"],
         "missing"),
        ([ROW | {"rooms": 3}], ["body", "rows", 0, "rooms"], "extra_forbidden"),
        ([ROW | {"HouseAge": True}], ["body", "rows", 0, "HouseAge"], "float_type"),
        ([], ["body", "rows"], "too_short"),
    ],
)  # fmt: skip
def test_bad_rows_get_422_naming_field_and_row_and_nothing_is_logged(client, rows, location, kind):
    before = client.get("/predictions", params={"limit": 1}).json()["total"]

    answer = _predict(client, rows)

    assert answer.status_code == 422
    errors = answer.json()["detail"]
    assert {"loc": location, "type": kind} in [{"loc": e["loc"], "type": e["type"]} for e in errors]
    assert client.get("/predictions", params={"limit": 1}).json()["total"] == before


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_non_finite_numbers_are_refused(client, literal):
    body = b'{"rows": [{"MedInc": 3.0, "HouseAge": 20, "AveRooms": 5, "AveBedrms": 1, '
    body += b'"Population": ' + literal + b', "AveOccup": 3, "Latitude": 36, "Longitude": -120}]}'

    answer = client.post("/predict", content=body)

    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "rows", 0, "Population"]


def test_limits_on_rows_and_body_size(client, served):
    too_many = client.post("/predict", json={"rows": [ROW] * 10_001})
    too_big = client.post("/predict", content=b" " * 4_000_001)

    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["type"] == "too_long"
    assert too_big.status_code == 413


def test_malformed_json_gets_422_and_errors_expose_no_internals(client):
    answer = client.post("/predict", content=b'{"rows": [')

    assert answer.status_code == 422
    assert answer.json()["detail"][0]["type"] == "json_invalid"
    for internal in ("Traceback", "site-packages", "california_housing", ".py"):
        assert internal not in answer.text


def test_feedback_needs_the_api_key_and_known_ids(client):
    prediction = _predict(client, [ROW]).json()["predictions"][0]
    item = {"prediction_id": prediction["prediction_id"], "MedHouseVal": 3.5}

    no_key = client.post("/feedback", json={"feedback": [item]})
    wrong_key = client.post("/feedback", json={"feedback": [item]}, headers={"X-API-Key": "x"})
    unknown = client.post(
        "/feedback",
        json={"feedback": [item, {"prediction_id": "f" * 32, "MedHouseVal": 1.0}]},
        headers={"X-API-Key": API_KEY},
    )
    accepted = client.post("/feedback", json={"feedback": [item]}, headers={"X-API-Key": API_KEY})

    assert (no_key.status_code, wrong_key.status_code) == (401, 401)
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["body", "feedback", 1, "prediction_id"]
    assert accepted.json() == {"received": 1}
    items = client.get("/predictions", params={"limit": 50}).json()["items"]
    assert next(i for i in items if i["prediction_id"] == item["prediction_id"])[
        "MedHouseVal"
    ] == pytest.approx(3.5)


def test_predictions_filter_by_version_and_time(client):
    version = client.get("/model").json()["version"]
    start = datetime.now(UTC) - timedelta(milliseconds=1)
    ids = [p["prediction_id"] for p in _predict(client, [ROW, ROW]).json()["predictions"]]
    time.sleep(0.01)
    later = datetime.now(UTC)

    window = client.get("/predictions", params={"since": start.isoformat()}).json()
    before = client.get("/predictions", params={"until": start.isoformat(), "limit": 1}).json()
    after = client.get("/predictions", params={"since": later.isoformat()}).json()
    other = client.get("/predictions", params={"model_version": version + 100}).json()
    paged = client.get("/predictions", params={"since": start.isoformat(), "limit": 1,
                                               "offset": 1}).json()  # fmt: skip

    assert sorted(i["prediction_id"] for i in window["items"]) == sorted(ids)
    assert window["total"] == 2
    assert before["total"] >= 1
    assert not set(ids) & {i["prediction_id"] for i in before["items"]}
    assert (after["total"], after["items"]) == (0, [])
    assert "kedro archive" in after["archive"]["note"]  # and where older rows are
    assert other["total"] == 0
    assert len(paged["items"]) == 1


def test_metrics_count_requests_rows_and_the_served_version(client):
    version = client.get("/model").json()["version"]
    _predict(client, [ROW, EAST_ROW])
    _predict(client, [ROW | {"MedInc": -1}])

    text = client.get("/metrics").text

    assert 'serving_requests_total{endpoint="/predict",method="POST",status="200"}' in text
    assert 'serving_requests_total{endpoint="/predict",method="POST",status="422"}' in text
    assert "serving_request_duration_seconds_bucket" in text
    assert f'serving_rows_predicted_total{{model_version="{version}"}}' in text
    assert "serving_feedback_received_total" in text
    assert (
        f'serving_model_version{{alias="champion",model_name="{REGISTERED_MODEL}",'
        f'model_version="{version}"}} 1.0'
    ) in text


def test_reload_needs_the_key_and_reports_no_change(client):
    assert client.post("/reload").status_code == 401

    answer = client.post("/reload", headers={"X-API-Key": API_KEY})

    assert answer.status_code == 200
    assert answer.json()["changed"] is False


def test_unknown_paths_and_methods_get_plain_4xx(client):
    assert client.get("/nope").status_code == 404
    assert client.get("/predict").status_code == 405


# ------------------------------------------------------- a champion of a filtered version


def test_rows_outside_a_filtered_champions_domain_are_answered_and_flagged(specialist, tmp_path):
    extra = {"SERVING_MODEL_ALIAS": "specialist"}
    with start_server(specialist, tmp_path, extra_env=extra) as server, server.client() as client:
        wait_ready(server)
        model = client.get("/model").json()
        answer = _predict(client, [ROW, EAST_ROW]).json()
        text = client.get("/metrics").text

    assert (model["alias"], model["data_version"], model["domain"]) == (
        "specialist",
        "v3",
        INLAND_CAPPED,
    )
    first, east = answer["predictions"]
    assert (first["out_of_domain"], first["domain_violations"]) == (False, [])
    assert (east["out_of_domain"], east["domain_violations"]) == (True, ["Longitude lt -119.0"])
    assert f'serving_rows_out_of_domain_total{{model_version="{model["version"]}"}} 1.0' in text


def test_health_answers_while_a_10000_row_batch_is_scored(served):
    """One worker: the batch is scored off the event loop, which keeps answering."""
    batch = [ROW | {"MedInc": 1.0 + i % 90 / 10, "Latitude": 33.0 + i % 80 / 10}
             for i in range(10_000)]  # fmt: skip
    answered: list[tuple[float, int]] = []  # (when, status) of each /health
    finished = threading.Event()

    def poll_health() -> None:
        with httpx.Client(base_url=served.url, timeout=30) as health:
            while not finished.is_set():
                status = health.get("/health").status_code
                answered.append((time.perf_counter(), status))

    with served.client() as client:
        poller = threading.Thread(target=poll_health)
        poller.start()
        try:
            time.sleep(0.2)
            sent = time.perf_counter()
            answer = client.post("/predict", json={"rows": batch})
            done = time.perf_counter()
        finally:
            finished.set()
            poller.join()

    assert answer.status_code == 200
    assert len(answer.json()["predictions"]) == 10_000
    during = [when for when, status in answered if sent < when < done and status == 200]
    times = [sent, *during, done]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # the loop stalls only to read the body and to write the answer, not while scoring
    assert len(during) >= 5, (len(during), done - sent)
    assert max(gaps) < 0.5 * (done - sent), (max(gaps), done - sent)
