"""Loading the configuration and building the pipelines warn about nothing."""

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader
from kedro.framework.startup import bootstrap_project
from kedro.validation.parameter_validator import ParameterValidator

from california_housing import library_warnings, settings
from california_housing.pipeline_registry import register_pipelines
from california_housing.settings import CONFIG_LOADER_ARGS, warn_if_not_running_src
from tests.conftest import copy_project, kedro_cli

REPO_ROOT = Path(__file__).resolve().parents[1]


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


#: Run in a fresh interpreter at the project root: bootstrap the project, import the
#: pipeline registry, then run ``{step}`` and print the warnings it raised as JSON.
FRESH_PROCESS = """
import json, warnings
from kedro.framework.startup import bootstrap_project
from kedro.pipeline import Node
bootstrap_project(".")
from california_housing.pipeline_registry import register_pipelines
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    {step}
print(json.dumps([str(w.message) for w in caught]))
"""


def _warnings_in_a_fresh_process(step: str) -> list[str]:
    """The warnings that ``step`` raises in a new interpreter (see ``FRESH_PROCESS``)."""
    result = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS.format(step=step)],
        cwd=REPO_ROOT,
        env={k: v for k, v in os.environ.items() if k != "KEDRO_ENV"},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.splitlines()[-1])  # after Kedro's logging set-up line


@pytest.mark.slow  # two fresh interpreters
def test_the_leaderboards_namespaced_inputs_raise_no_dotted_name_warning():
    # The leaderboard reads `v1.linear.metrics`, ... Kedro warns about dotted names outside
    # a node's namespace only once per process, so each check needs a process of its own.
    assert _warnings_in_a_fresh_process("register_pipelines()") == []
    # the control: where nothing used the warning up, a dotted name does warn
    control = _warnings_in_a_fresh_process('Node(len, "a.b", "c", name="dotted")')
    assert len(control) == 1
    assert "dataset names contain '.'" in control[0]


def test_building_and_validating_the_pipelines_warns_about_nothing(monkeypatch, caplog):
    monkeypatch.chdir(REPO_ROOT)
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    # (Kedro's dotted-name warning comes once per process: the test above has a fresh one)
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


def _with_a_copy_of_the_package(project: Path) -> Path:
    """Replace the package link of a :func:`copy_project` copy with a real copy of it."""
    package = project / "src" / "california_housing"
    package.unlink()
    shutil.copytree(REPO_ROOT / "src" / "california_housing", package)
    return package


def test_running_another_copy_of_the_package_than_src_warns_naming_both(tmp_path, monkeypatch):
    project = copy_project(tmp_path)
    package = _with_a_copy_of_the_package(project)
    monkeypatch.chdir(project / "src")  # anywhere in the project, as in notebooks/

    with pytest.warns(UserWarning, match="edits to src/ do not take effect") as caught:
        warn_if_not_running_src()

    message = str(caught[0].message)
    assert str(package) in message
    assert str(Path(settings.__file__).resolve().parent) in message
    assert "pip install -e ." in message


@pytest.mark.parametrize("where", ["linked", "no_src"])
def test_running_the_projects_own_package_or_outside_a_checkout_warns_nothing(
    where, tmp_path, monkeypatch
):
    if where == "linked":
        copy_project(tmp_path)  # the package linked: what an editable install runs
    monkeypatch.chdir(tmp_path)  # "no_src": a packaged project run in a bare folder

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_not_running_src()


@pytest.mark.slow  # a real `kedro` process
def test_kedro_in_a_checkout_that_is_not_the_installed_one_warns(tmp_path):
    project = copy_project(tmp_path)
    package = _with_a_copy_of_the_package(project)

    done = kedro_cli(project, "registry", "list")

    assert "edits to src/ do not take effect" in done.stderr
    assert str(package) in done.stderr
