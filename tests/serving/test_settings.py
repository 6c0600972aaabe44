from pathlib import Path

import pytest

from california_housing.serving.settings import ServingSettings, load_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVING = {"model_name": "california-housing", "log_db_url": "sqlite:////tmp/log.db"}
OVERRIDES = ["MLFLOW_TRACKING_URI", "SERVING_LOG_DB_URL", "SERVING_MODEL_ALIAS", "SERVING_API_KEY",
             "SERVING_MAX_ROWS", "SERVING_ALLOW_UNAUTHENTICATED"]  # fmt: skip
EVERY_ADDRESS = "0.0.0.0"  # noqa: S104 (what the service must refuse to bind without a key)


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch):
    """These tests set the environment variables they mean."""
    for name in OVERRIDES:
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


@pytest.mark.parametrize("host", [EVERY_ADDRESS, "::", "192.168.1.20", "serving.example.org"])
def test_other_machines_are_refused_without_a_key_saying_how_to_set_one(host):
    settings = ServingSettings.from_config(SERVING, tracking_uri="x")

    refusal = settings.refusal(host)

    assert refusal is not None
    assert host in refusal and "SERVING_API_KEY" in refusal
    assert "SERVING_ALLOW_UNAUTHENTICATED=true" in refusal


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_the_loopback_address_needs_no_key(host):
    assert ServingSettings.from_config(SERVING, tracking_uri="x").refusal(host) is None


def test_a_key_or_the_named_opt_in_lets_it_serve_other_machines(monkeypatch):
    with_key = ServingSettings.from_config(SERVING, tracking_uri="x", api_key="k")
    monkeypatch.setenv("SERVING_ALLOW_UNAUTHENTICATED", "true")
    opted_in = ServingSettings.from_config(SERVING, tracking_uri="x")

    assert with_key.refusal(EVERY_ADDRESS) is None
    assert opted_in.allow_unauthenticated
    assert opted_in.refusal(EVERY_ADDRESS) is None


def test_any_setting_has_its_environment_variable_and_a_bad_one_is_named(monkeypatch):
    monkeypatch.setenv("SERVING_MAX_ROWS", "500")
    assert ServingSettings.from_config(SERVING, tracking_uri="x").max_rows == 500

    monkeypatch.setenv("SERVING_MAX_ROWS", "many")
    with pytest.raises(ValueError, match=r"serving\.max_rows: .*SERVING_MAX_ROWS"):
        ServingSettings.from_config(SERVING, tracking_uri="x")


def test_the_api_key_is_not_shown_in_the_settings_repr():
    settings = ServingSettings.from_config(SERVING, tracking_uri="x", api_key="secret-key")

    assert "secret-key" not in repr(settings)
