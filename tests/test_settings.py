"""Loading the configuration and building the pipelines warn about nothing."""

import importlib
import warnings
from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader
from kedro.framework.startup import bootstrap_project
from kedro.pipeline import Node
from kedro.validation.parameter_validator import ParameterValidator

from california_housing import library_warnings
from california_housing.pipeline_registry import register_pipelines
from california_housing.pipelines.reporting import create_pipeline as reporting_pipeline
from california_housing.settings import CONFIG_LOADER_ARGS

REPO_ROOT = Path(__file__).resolve().parents[1]
NODE_MODULE = importlib.import_module("kedro.pipeline.node")


@pytest.mark.parametrize("env", ["local", "test", "synthetic"])
def test_loading_the_projects_configuration_warns_about_nothing(env):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        library_warnings.quiet()

        loader = OmegaConfigLoader(
            conf_source=str(REPO_ROOT / "conf"), env=env, **CONFIG_LOADER_ARGS
        )
        for key in ("parameters", "catalog", "mlflow", "globals"):
            loader[key]

    assert [str(w.message) for w in caught] == []


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
