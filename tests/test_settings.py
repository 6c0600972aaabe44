"""Library warnings a user cannot act on are silenced at their source; others still show."""

import importlib
import warnings
from pathlib import Path

import optuna
import pytest
from kedro.config import OmegaConfigLoader
from kedro.framework.startup import bootstrap_project
from kedro.pipeline import Node
from kedro.validation.parameter_validator import ParameterValidator

from california_housing.pipeline_registry import register_pipelines
from california_housing.pipelines.reporting import create_pipeline as reporting_pipeline
from california_housing.settings import CONFIG_LOADER_ARGS, quiet_library_warnings

REPO_ROOT = Path(__file__).resolve().parents[1]
NODE_MODULE = importlib.import_module("kedro.pipeline.node")


def _warn(message: str, category: type[Warning], module: str) -> None:
    warnings.warn_explicit(message, category, f"{module.replace('.', '/')}.py", 1, module=module)


@pytest.mark.parametrize("env", ["local", "test", "synthetic"])
def test_loading_the_projects_configuration_warns_about_nothing(env):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_library_warnings()

        loader = OmegaConfigLoader(
            conf_source=str(REPO_ROOT / "conf"), env=env, **CONFIG_LOADER_ARGS
        )
        for key in ("parameters", "catalog", "mlflow", "globals"):
            loader[key]

    assert [str(w.message) for w in caught] == []


def test_kedro_resolver_deprecations_are_silenced_and_the_same_from_the_project_shows():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_library_warnings()

        OmegaConfigLoader(conf_source=str(REPO_ROOT / "conf"), **CONFIG_LOADER_ARGS)
        _warn(
            "register_new_resolver() is deprecated",
            UserWarning,
            "kedro_mlflow.framework.hooks.mlflow_hook",
        )
        _warn("register_new_resolver() is deprecated", UserWarning, "california_housing.x")

    shown = [(str(w.message), w.filename) for w in caught]
    assert shown == [("register_new_resolver() is deprecated", "california_housing/x.py")]


def test_only_optunas_heartbeat_experimental_warning_is_silenced():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_library_warnings()

        optuna.storages.RDBStorage("sqlite://", heartbeat_interval=60, grace_period=120)
        _warn(
            "Argument ``max_resource`` is an experimental feature.",
            optuna.exceptions.ExperimentalWarning,
            "optuna._experimental",
        )

    assert [str(w.message) for w in caught] == [
        "Argument ``max_resource`` is an experimental feature."
    ]


def test_the_leaderboards_namespaced_inputs_raise_no_dotted_name_warning(monkeypatch):
    # Kedro warns about dotted names once per process: make this test see it if it came.
    monkeypatch.setattr(Node, NODE_MODULE._DOTTED_DATASET_NAME_WARNED, False, raising=False)
    monkeypatch.chdir(REPO_ROOT)
    monkeypatch.delenv("KEDRO_ENV", raising=False)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipeline = reporting_pipeline()

    assert "v1.linear.metrics" in pipeline.inputs()
    monkeypatch.setattr(Node, NODE_MODULE._DOTTED_DATASET_NAME_WARNED, False)
    with pytest.warns(UserWarning, match="dataset names contain '.'"):  # others still warn
        Node(len, "a.b", "c", name="dotted")


def test_building_and_validating_the_pipelines_warns_about_nothing(monkeypatch, caplog):
    monkeypatch.chdir(REPO_ROOT)
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    # Kedro warns about dotted names once per process: make this test see it if it came.
    monkeypatch.setattr(Node, NODE_MODULE._DOTTED_DATASET_NAME_WARNED, False, raising=False)
    bootstrap_project(REPO_ROOT)
    parameters = OmegaConfigLoader(conf_source=str(REPO_ROOT / "conf"), **CONFIG_LOADER_ARGS)[
        "parameters"
    ]

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipelines = register_pipelines()
        nodes = {node.name: str(node) for pipeline in pipelines.values() for node in pipeline.nodes}
        ParameterValidator(pipelines).validate_raw_params(parameters)

    assert nodes["v3.linear.plot_predictions"].startswith("plot_predictions: plot_candidate_")
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == []
