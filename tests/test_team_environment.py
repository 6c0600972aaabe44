"""The `team` configuration environment, without servers (tests/integration/ runs it)."""

import re

import pytest
import yaml
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, DatasetError

from california_housing import settings
from california_housing.datasets import OptunaStudyDataset
from tests.conftest import REPO_ROOT

TEAM = REPO_ROOT / "conf" / "team"
STORAGE = "postgresql+psycopg://optuna:s3cret@db.example.org:5432/optuna"
SERVER = "http://mlflow.example.org:5000"


@pytest.fixture
def team_config(monkeypatch):
    monkeypatch.setenv("OPTUNA_STORAGE", STORAGE)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", SERVER)
    return OmegaConfigLoader(str(REPO_ROOT / "conf"), env="team", **settings.CONFIG_LOADER_ARGS)


def test_team_reads_its_servers_from_the_environment(team_config):
    mlflow = team_config["mlflow"]
    credentials = team_config["credentials"]

    assert mlflow["server"]["mlflow_tracking_uri"] == SERVER
    assert mlflow["tracking"]["experiment"]["create_experiment_kwargs"]["artifact_location"] is None
    assert credentials["optuna_storage"] == {"url": STORAGE}


def test_team_tracking_settings_stay_in_step_with_base():
    base = yaml.safe_load((REPO_ROOT / "conf" / "base" / "mlflow.yml").read_text())["tracking"]
    team = yaml.safe_load((TEAM / "mlflow.yml").read_text())["tracking"]

    team["experiment"]["create_experiment_kwargs"].pop("artifact_location")
    base["experiment"]["create_experiment_kwargs"].pop("artifact_location")
    assert team == base


def test_the_team_study_uses_the_credential_url_and_never_shows_its_password(team_config):
    catalog = DataCatalog.from_config(team_config["catalog"], team_config["credentials"])

    study = catalog.get("v3.xgboost_tuned.study")

    assert isinstance(study, OptunaStudyDataset)
    assert "s3cret" not in repr(study)
    assert "db.example.org:5432/optuna" in repr(study)
    assert "california-housing-v3-xgboost_tuned" in repr(study)


def test_no_secret_is_committed_in_the_team_environment():
    for path in TEAM.glob("*.yml"):
        text = path.read_text()
        assert not re.search(r"://[^/\s:@]+:[^@\s]+@", text), path  # user:password@ in a URL
        assert not re.search(r"(?im)^\s*password\s*:", text), path


def test_a_study_dataset_without_a_storage_says_how_to_give_one():
    with pytest.raises(DatasetError, match=r"give `storage`.*or `credentials`"):
        OptunaStudyDataset(study_name="s")


def test_without_optuna_storage_only_the_study_complains(monkeypatch):
    # the service and monitoring run in `team` without the Optuna storage's credentials
    monkeypatch.delenv("OPTUNA_STORAGE", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", SERVER)
    config = OmegaConfigLoader(str(REPO_ROOT / "conf"), env="team", **settings.CONFIG_LOADER_ARGS)
    catalog = DataCatalog.from_config(config["catalog"], config["credentials"])

    assert config["credentials"]["optuna_storage"] == {"url": None}
    with pytest.raises(DatasetError, match="reads it from OPTUNA_STORAGE"):
        catalog.get("v3.xgboost_tuned.study")


def test_the_prediction_log_url_comes_from_serving_log_db_url(monkeypatch):
    url = "postgresql+psycopg://serving@db.example.org:5432/serving"
    monkeypatch.setenv("SERVING_LOG_DB_URL", url)
    config = OmegaConfigLoader(str(REPO_ROOT / "conf"), env="team", **settings.CONFIG_LOADER_ARGS)

    assert config["parameters"]["serving"]["log_db_url"] == url
    # the queries are built from the log's one table definition, for PostgreSQL as for SQLite
    assert config["catalog"]["monitoring_predictions"]["credentials"]["con"] == url
    assert config["catalog"]["monitoring_predictions"]["type"].endswith("PredictionLogDataset")
