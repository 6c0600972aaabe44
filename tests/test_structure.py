"""Which versions and models exist follows the session's --env and --conf-source."""

import tarfile
from pathlib import Path

import pytest
import yaml
from kedro.framework.project import settings
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from california_housing import structure
from california_housing.pipeline_registry import register_pipelines
from california_housing.settings import CONFIG_LOADER_ARGS

REPO_ROOT = Path(__file__).resolve().parents[1]
#: An environment that keeps one data version and two models.
FEWER = {
    "versions": {"v1": {"filters": {}, "features": []}},
    "models": {
        "linear": {"class": "sklearn.linear_model.LinearRegression", "params": {}},
        "xgboost": {"class": "xgboost.XGBRegressor", "params": {"n_estimators": 5}},
    },
    "tuning": {"model": "xgboost", "versions": {"v1": {}}},
}


@pytest.fixture
def conf(tmp_path):
    """A copy of conf/ (without local) plus an environment ``fewer``."""
    root = tmp_path / "conf"
    (root / "local").mkdir(parents=True)
    for env in ("base", "test"):
        for path in (REPO_ROOT / "conf" / env).glob("*.yml"):
            (root / env).mkdir(exist_ok=True)
            (root / env / path.name).write_text(path.read_text())
    (root / "fewer").mkdir()
    (root / "fewer" / "parameters.yml").write_text(yaml.safe_dump(FEWER))
    (root / "fewer" / "globals.yml").write_text("data_root: data/fewer\n")
    return root


@pytest.fixture
def project(tmp_path, conf, monkeypatch):
    """A project folder around ``conf`` (pyproject.toml and all), as the working directory."""
    (tmp_path / "pyproject.toml").write_text((REPO_ROOT / "pyproject.toml").read_text())
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "california_housing").symlink_to(REPO_ROOT / "src" / "california_housing")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    return tmp_path


def test_without_a_session_it_reads_base_and_local_of_the_project(project):
    zoo = ["linear", "random_forest", "gradient_boosting", "xgboost"]

    assert structure.versions() == ["v1", "v2", "v3", "v4"]
    assert structure.models() == zoo
    assert structure.zoo_candidates() == [
        *((version, model) for version in ("v1", "v2", "v3") for model in zoo),
        ("v4", "linear"),  # v4 lists the models it trains
        ("v4", "xgboost"),
    ]
    assert structure.tuned_model() == "xgboost"
    assert structure.tuned_versions() == ["v3", "v4"]
    assert str(project / "conf") in structure.source()


def test_a_version_listing_a_model_outside_the_zoo_is_named(conf, project):
    (conf / "fewer" / "parameters.yml").write_text(
        yaml.safe_dump(FEWER | {"versions": {"v1": {"filters": {}, "models": ["lasso"]}}})
    )
    structure.ProjectConfigLoader(conf_source=str(conf), env="fewer", **CONFIG_LOADER_ARGS)

    with pytest.raises(structure.StructureError, match=r"'v1' lists models \['lasso'\]"):
        structure.zoo_candidates()


def test_tuned_versions_as_a_list_are_refused_with_the_mapping_to_write(conf, project):
    (conf / "fewer" / "parameters.yml").write_text(
        yaml.safe_dump(FEWER | {"tuning": {"model": "xgboost", "versions": ["v1"]}})
    )
    structure.ProjectConfigLoader(conf_source=str(conf), env="fewer", **CONFIG_LOADER_ARGS)

    with pytest.raises(structure.StructureError, match=r"tuning.versions must map each"):
        structure.tuned_versions()


def test_without_a_session_kedro_env_selects_the_environment(project, monkeypatch):
    monkeypatch.setenv("KEDRO_ENV", "fewer")

    assert structure.versions() == ["v1"]
    assert structure.models() == ["linear", "xgboost"]


def test_a_config_loader_of_the_project_class_is_read_from_once_created(conf, project):
    structure.ProjectConfigLoader(conf_source=str(conf), env="fewer", **CONFIG_LOADER_ARGS)

    assert structure.versions() == ["v1"]
    assert structure.tuned_versions() == ["v1"]
    assert "env fewer" in structure.source()
    structure.read_from(None)
    assert structure.versions() == ["v1", "v2", "v3", "v4"]


def test_a_packaged_configuration_archive_is_read(conf, tmp_path):
    archive = tmp_path / "conf-california_housing.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(conf, arcname="conf")

    structure.ProjectConfigLoader(conf_source=str(archive), env="fewer", **CONFIG_LOADER_ARGS)

    assert structure.models() == ["linear", "xgboost"]


def test_missing_versions_are_named_with_where_they_were_looked_for(conf, project):
    (conf / "fewer" / "parameters.yml").write_text(yaml.safe_dump({"versions": {}}))
    structure.ProjectConfigLoader(conf_source=str(conf), env="fewer", **CONFIG_LOADER_ARGS)

    with pytest.raises(structure.StructureError, match=r"No data versions .* env fewer"):
        structure.versions()


def test_no_configuration_at_all_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    with pytest.raises(structure.StructureError, match=r"No configuration at .*conf/base"):
        structure.versions()


@pytest.mark.slow  # a real session: its hooks start MLflow and create its SQLite store
def test_a_session_builds_the_pipelines_of_its_env_and_conf_source(project, conf, tmp_path):
    moved = tmp_path / "elsewhere"
    conf.rename(moved)  # only --conf-source can find it now
    bootstrap_project(project)
    assert settings.CONFIG_LOADER_CLASS is structure.ProjectConfigLoader

    with KedroSession.create(project_path=project, env="fewer", conf_source=str(moved)) as session:
        session.load_context()
        pipelines = register_pipelines()

    namespaces = {node.namespace for node in pipelines["__default__"].nodes}
    assert namespaces == {None, "v1", "v1.linear", "v1.xgboost", "v1.xgboost_tuned"}
