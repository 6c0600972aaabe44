"""A `kedro` command prints no warning a user cannot act on, and real warnings still show."""

import sys
import warnings
from importlib.metadata import entry_points
from pathlib import Path

import kedro_mlflow
import optuna
import pytest
from kedro.config import OmegaConfigLoader

from california_housing import library_warnings
from california_housing.settings import CONFIG_LOADER_ARGS
from tests.conftest import copy_project, kedro_cli

REPO_ROOT = Path(__file__).resolve().parents[1]


def _warn(message: str, category: type[Warning], module: str) -> None:
    warnings.warn_explicit(message, category, f"{module.replace('.', '/')}.py", 1, module=module)


def test_kedro_resolver_deprecations_are_silenced_and_the_same_from_the_project_shows():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        library_warnings.quiet()

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
        library_warnings.quiet()

        optuna.storages.RDBStorage("sqlite://", heartbeat_interval=60, grace_period=120)
        _warn(
            "Argument ``max_resource`` is an experimental feature.",
            optuna.exceptions.ExperimentalWarning,
            "optuna._experimental",
        )

    assert [str(w.message) for w in caught] == [
        "Argument ``max_resource`` is an experimental feature."
    ]


def _forget_kedro_mlflow_models(monkeypatch):
    """Make the next import of ``kedro_mlflow.mlflow`` define its model classes again."""
    monkeypatch.setattr(kedro_mlflow, "mlflow", kedro_mlflow.mlflow)
    for name in [m for m in sys.modules if m.startswith("kedro_mlflow.mlflow")]:
        monkeypatch.delitem(sys.modules, name)


def test_mlflow_warns_about_kedro_mlflows_model_class_when_it_is_defined(monkeypatch):
    _forget_kedro_mlflow_models(monkeypatch)

    with warnings.catch_warnings(record=True) as caught:
        import kedro_mlflow.mlflow  # noqa: F401, PLC0415

    assert any(library_warnings.UNTYPED_PREDICT in str(w.message) for w in caught)


def test_quiet_defines_kedro_mlflows_model_class_without_that_warning(monkeypatch):
    _forget_kedro_mlflow_models(monkeypatch)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        library_warnings.quiet()

    assert [str(w.message) for w in caught] == []
    assert "kedro_mlflow.mlflow" in sys.modules


def test_kedros_init_entry_point_is_quiet():
    (entry,) = [e for e in entry_points(group="kedro.init") if e.name == "california_housing"]
    assert entry.load() is library_warnings.quiet


@pytest.mark.slow  # a whole `kedro run --env test` through the CLI: ~25 s
def test_a_full_kedro_run_prints_no_warning(tmp_path):
    root = copy_project(tmp_path / "project")

    done = kedro_cli(root, "run", "--env", "test")

    output = done.stdout + done.stderr
    assert "Pipeline execution completed successfully" in output
    assert [line for line in output.splitlines() if "warning" in line.lower()] == []
