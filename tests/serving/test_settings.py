from pathlib import Path

import pytest

from california_housing.serving.settings import ServingSettings, load_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVING = {"model_name": "california-housing", "log_db_url": "sqlite:////tmp/log.db"}


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch):
    """These tests set the environment variables they mean."""
    for name in ("MLFLOW_TRACKING_URI", "SERVING_LOG_DB_URL", "SERVING_MODEL_ALIAS",
                 "SERVING_API_KEY", "SERVING_MAX_ROWS"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


def test_environment_variables_override_configuration(monkeypatch):
    for name, value in {
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:5000",
        "SERVING_LOG_DB_URL": "postgresql+psycopg://u:p@db/log",
        "SERVING_MODEL_ALIAS": "challenger",
        "SERVING_API_KEY": "",  # empty: not set
    }.items():
        monkeypatch.setenv(name, value)

    settings = ServingSettings.from_config(
        SERVING | {"model_alias": "champion"},
        tracking_uri="sqlite:////tmp/mlflow.db",
        api_key="from-credentials",
    )

    assert settings.tracking_uri == "http://127.0.0.1:5000"
    assert settings.log_db_url == "postgresql+psycopg://u:p@db/log"
    assert settings.model_alias == "challenger"
    assert settings.api_key == "from-credentials"


def test_unknown_keys_and_bad_limits_are_named():
    with pytest.raises(ValueError, match=r"Unknown key\(s\) \['max_row'\]"):
        ServingSettings.from_config(SERVING | {"max_row": 5}, tracking_uri="x")
    with pytest.raises(ValueError, match=r"serving\.max_rows must be a positive integer"):
        ServingSettings.from_config(SERVING | {"max_rows": 0}, tracking_uri="x")
    with pytest.raises(ValueError, match=r"log_buffer_rows must be at least serving\.max_rows"):
        ServingSettings.from_config(
            SERVING | {"max_rows": 100, "log_buffer_rows": 10}, tracking_uri="x"
        )
    with pytest.raises(ValueError, match=r"serving\.log_db_url is not set"):
        ServingSettings.from_config({"model_name": "m"}, tracking_uri="x")


@pytest.mark.slow  # two real Kedro sessions: their hooks start MLflow on the project's store
def test_settings_of_an_environment_come_from_its_configuration(monkeypatch):
    for name in ("MLFLOW_TRACKING_URI", "SERVING_LOG_DB_URL", "SERVING_MODEL_ALIAS"):
        monkeypatch.delenv(name, raising=False)

    test = load_settings("test", REPO_ROOT)
    base = load_settings("base", REPO_ROOT)

    assert test.model_name == "california-housing-test"
    assert base.model_name == "california-housing"
    assert test.model_alias == "champion"
    assert test.tracking_uri == f"sqlite:///{REPO_ROOT.as_posix()}/mlflow.db"
    assert test.log_db_url == (
        f"sqlite:///{REPO_ROOT.as_posix()}/data/test/09_serving/prediction_log.db"
    )
    assert test.max_rows == 10_000
    assert test.cors_origins == ()
    assert test.filters["v2"] == {"MedHouseVal": {"le": 5.0}, "Longitude": {"lt": -119.0}}


def test_environment_overrides_survive_the_session(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////elsewhere/mlflow.db")
    monkeypatch.setenv("SERVING_MODEL_ALIAS", "challenger")

    settings = load_settings("test", REPO_ROOT)

    assert settings.tracking_uri == "sqlite:////elsewhere/mlflow.db"
    assert settings.model_alias == "challenger"
