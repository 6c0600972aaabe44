"""A real MLflow SQLite store per test, copied from one migrated template (migrations take
seconds, a copy milliseconds)."""

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import pytest


def migrated_template(folder: Path) -> Path:
    """Create an empty, migrated MLflow database in ``folder``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        mlflow.MlflowClient(tracking_uri=f"sqlite:///{folder}/mlflow.db").search_experiments()
    return folder / "mlflow.db"


@contextmanager
def copied_store(template: Path, folder: Path) -> Iterator[Path]:
    """Point MLflow at a copy of ``template`` in ``folder``.

    Yields:
        ``folder``. Runs left open are ended and the tracking URI restored.
    """
    shutil.copy(template, folder / "mlflow.db")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
    try:
        yield folder
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(previous)


@contextmanager
def store(template: Path, folder: Path, experiment: str = "tracking") -> Iterator[str]:
    """Point MLflow at a copy of ``template`` in ``folder`` with an ``experiment`` in it.

    Start runs with ``experiment_id=`` (setting MLflow's active experiment would outlive the
    store).

    Yields:
        The experiment's id. Runs left open are ended and the tracking URI restored.
    """
    with copied_store(template, folder):
        yield mlflow.create_experiment(
            experiment, artifact_location=(folder / "mlartifacts").as_uri()
        )
