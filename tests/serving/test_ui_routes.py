"""The UI's own routes and ``/monitoring/latest`` on a service that is not started."""

from __future__ import annotations

import json
import math

import pytest
from fastapi.testclient import TestClient

from california_housing.schema import RAW_FEATURES, raw_schema
from california_housing.serving.app import create_app
from california_housing.serving.settings import ServingSettings, load_settings
from california_housing.serving.ui import feature_fields
from tests.conftest import REPO_ROOT

HEADER = [
    "rank", "candidate", "data_version", "model_type", "holdout_rmse", "holdout_mae",
    "holdout_r2", "holdout_mape", "rmse", "mae", "r2", "mape", "train_seconds", "n_holdout",
    "n_test", "run_id", "parent_run_id", "start_time",
]  # fmt: skip
ROWS = [
    "1,v2.xgboost,v2,xgboost,0.4795,0.3398,0.7907,23.07,0.4795,0.3398,0.79,23.0,0.0174,"
    "1820.0,1820.0,abc,def,2026-12-01 17:29:28+00:00",
    "2,v1.linear,v1,linear,0.6869,0.5015,0.5706,36.79,,0.5,0.57,36.0,0.09,"
    "1820.0,4128.0,ghi,def,2026-12-01 17:29:28+00:00",
]
LEADERBOARD = "\n".join([",".join(HEADER), *ROWS]) + "\n"


@pytest.fixture
def data_root(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def client(data_root, tmp_path):
    """The service's app, not started (no model, no log), with the reports under data_root."""
    reporting = data_root / "08_reporting"
    settings = ServingSettings(
        model_name="california-housing-test",
        tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
        log_db_url=f"sqlite:///{tmp_path}/log.db",
        leaderboard_path=reporting / "leaderboard.csv",
        promotion_path=reporting / "promotion_decision.json",
        monitoring_decision_path=reporting / "monitoring" / "decision.json",
        env="test",
    )
    return TestClient(create_app(settings))


def test_feature_fields_follow_the_raw_schema():
    fields = feature_fields()
    assert [f["name"] for f in fields] == RAW_FEATURES
    columns = raw_schema(with_target=False).columns
    for field in fields:
        # the bounds the pandera schema really checks: > min, <= max
        checks = {c.name: c.statistics for c in columns[field["name"]].checks}
        assert field["min"] == checks.get("greater_than", {}).get("min_value")
        assert field["max"] == checks.get("less_than_or_equal_to", {}).get("max_value")
        assert not field["min_inclusive"]
        assert field["max_inclusive"]
        assert field["description"]
        assert field["unit"]
        low, high = field["min"], field["max"]
        assert (low is None or field["default"] > low) and (
            high is None or field["default"] <= high
        )


@pytest.mark.parametrize("path", ["/ui/", "/ui/batch", "/ui/model", "/ui/monitoring"])
def test_pages_are_html_that_load_their_script(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    script = response.text.split('<script type="module" src="', 1)[1].split('"', 1)[0]
    asset = client.get(script)
    assert asset.status_code == 200
    assert asset.headers["content-type"].startswith("text/javascript")
    # nothing is fetched from another origin
    assert "http://" not in response.text.replace("http://www.w3.org", "")
    assert "https://" not in response.text


def test_ui_redirects_to_the_predict_page_and_unknown_files_are_404(client):
    assert client.get("/ui", follow_redirects=False).headers["location"] == "/ui/"
    assert client.get("/ui/static/../router.py").status_code == 404
    assert client.get("/ui/static/missing.js").status_code == 404


def test_config_names_the_environment_in_its_commands(client):
    config = client.get("/ui/api/config").json()
    assert config["serve_command"] == "kedro serve --env test"
    assert config["monitoring_command"] == "kedro run --env test --pipelines monitoring"
    assert [f["name"] for f in config["features"]] == RAW_FEATURES


def test_report_is_404_with_the_command_to_make_it(client):
    response = client.get("/ui/api/report")
    assert response.status_code == 404
    assert "kedro run --env test" in response.json()["detail"]


def test_report_reads_the_leaderboard_figures_and_promotion(client, data_root):
    reporting = data_root / "08_reporting"
    reporting.mkdir(parents=True)
    (reporting / "leaderboard.csv").write_text(LEADERBOARD)
    (reporting / "comparison_by_model.png").write_bytes(b"\x89PNG by model")
    (reporting / "comparison_overall.png").write_bytes(b"\x89PNG overall")
    (reporting / "promotion_decision.json").write_text(
        '{"promote": true, "run_id": "abc", "holdout_rmse": NaN, "reason": "no champion yet"}'
    )
    report = client.get("/ui/api/report").json()
    assert [r["candidate"] for r in report["leaderboard"]] == ["v2.xgboost", "v1.linear"]
    assert report["leaderboard"][0]["rank"] == 1
    assert math.isclose(report["leaderboard"][0]["holdout_rmse"], 0.4795)
    assert report["leaderboard"][1]["rmse"] is None  # an empty cell
    assert [f["name"] for f in report["figures"]] == [
        "comparison_overall.png",
        "comparison_by_model.png",
    ]
    assert report["promotion"]["run_id"] == "abc"
    assert report["promotion"]["holdout_rmse"] is None  # NaN is not JSON
    figure = client.get(report["figures"][0]["url"])
    assert figure.headers["content-type"] == "image/png"
    assert figure.content == b"\x89PNG overall"


@pytest.mark.parametrize("name", ["leaderboard.csv", "..%2F..%2Fsecret.png", "comparison_x.txt"])
def test_only_comparison_figures_are_served(client, data_root, name):
    (data_root / "08_reporting").mkdir(parents=True)
    (data_root / "08_reporting" / "leaderboard.csv").write_text(LEADERBOARD)
    assert client.get(f"/ui/api/report/figures/{name}").status_code == 404


def test_monitoring_latest_is_404_with_the_command_until_a_decision_exists(client, data_root):
    response = client.get("/monitoring/latest")
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert "kedro run --env test --pipelines monitoring" in detail
    assert str(data_root) not in detail  # no machine path outside the project


def test_monitoring_latest_returns_the_decision(client, data_root):
    path = data_root / "08_reporting" / "monitoring" / "decision.json"
    path.parent.mkdir(parents=True)
    decision = {"retrain": False, "status": "ok", "reasons": [], "drift": {}, "live_error": {}}
    path.write_text(json.dumps(decision))
    answer = client.get("/monitoring/latest").json()
    assert {k: answer[k] for k in decision} == decision
    assert answer["written_at"]


def test_monitoring_latest_is_503_not_500_on_a_damaged_file(client, data_root):
    path = data_root / "08_reporting" / "monitoring" / "decision.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"retrain": tr')
    response = client.get("/monitoring/latest")
    assert response.status_code == 503
    assert "rerun" in response.json()["detail"]


@pytest.mark.slow  # a real Kedro session reads the environment's configuration
def test_the_service_serves_the_ui_of_its_environment(monkeypatch):
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    settings = load_settings("test", REPO_ROOT)
    assert settings.env == "test"
    reporting = REPO_ROOT / "data" / "test" / "08_reporting"  # the test environment's catalog
    assert settings.leaderboard_path == reporting / "leaderboard.csv"
    assert settings.monitoring_decision_path == reporting / "monitoring" / "decision.json"

    app = create_app(settings)
    client = TestClient(app)  # not started: no model loaded, no log opened
    for path in ("/ui/", "/ui/batch", "/ui/model", "/ui/monitoring"):
        assert client.get(path).status_code == 200, path
    assert client.get("/monitoring/latest").status_code in {200, 404}
    documented = app.openapi()["paths"]
    assert "/monitoring/latest" in documented
    assert not any(path.startswith("/ui") for path in documented)
