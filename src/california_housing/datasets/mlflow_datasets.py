"""Kedro datasets that read MLflow: candidate runs, and the registry's champion."""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset

from california_housing.datasets.load_only import LoadOnlyDataset
from california_housing.schema import EXAMPLE_ROW

#: Columns of a candidate-runs table besides the metrics (``metrics.<name>`` -> ``<name>``).
RUN_COLUMNS = {
    "run_id": "run_id",
    "tags.mlflow.parentRunId": "parent_run_id",
    "tags.candidate": "candidate",
    "tags.data_version": "data_version",
    "tags.model_type": "model_type",
    "tags.git_commit": "git_commit",
    "tags.kedro_env": "kedro_env",
    "start_time": "start_time",
}


class MlflowCandidateRunsDataset(LoadOnlyDataset):
    """Every finished candidate run of an MLflow experiment, as a table (load-only).

    A candidate run is a child run tagged ``candidate`` (see ``tracking.py``). The table
    has one row per run: ids, version and model tags, start time and every metric. The
    candidates of the ``kedro run`` that loads the table count too, although their runs end
    with it; runs that failed, or were left running by a killed ``kedro run``, do not.
    """

    written_by = "the pipelines that make the runs write them"

    def __init__(self, experiment_name: str, metadata: dict[str, Any] | None = None) -> None:
        """Configure the dataset.

        Args:
            experiment_name: The MLflow experiment to read (on the tracking URI that
                kedro-mlflow set up).
            metadata: Kedro metadata; unused here.
        """
        self._experiment_name = experiment_name
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        """Read the candidate runs.

        Returns:
            One row per finished candidate run (or candidate of the current run), newest
            first (empty if none).
        """
        import mlflow  # noqa: PLC0415

        from california_housing.tracking import CANDIDATE_TAG, parent_run_id  # noqa: PLC0415

        runs = mlflow.search_runs(
            experiment_names=[self._experiment_name],
            filter_string=f"tags.{CANDIDATE_TAG} != ''",
            order_by=["attributes.start_time DESC"],
            output_format="pandas",
        )
        if runs.empty or "tags.candidate" not in runs:
            return pd.DataFrame(columns=list(RUN_COLUMNS.values()))
        current = (runs["tags.mlflow.parentRunId"] == parent_run_id()) & runs.status.eq("RUNNING")
        runs = runs[runs["tags.candidate"].notna() & (runs.status.eq("FINISHED") | current)]
        metrics = {c: c.removeprefix("metrics.") for c in runs.columns if c.startswith("metrics.")}
        # a tag no run has (git_commit outside a git work tree) is no column: reindex
        table = runs.reindex(columns=[*RUN_COLUMNS, *metrics]).rename(columns=RUN_COLUMNS | metrics)
        return table.reset_index(drop=True)

    def _describe(self) -> dict[str, Any]:
        return {"experiment_name": self._experiment_name}


class MlflowChampionDataset(AbstractDataset[dict[str, Any], dict[str, Any]]):
    """The registered model's ``champion`` alias in the MLflow Model Registry.

    ``load`` describes the current champion (empty dict when there is none), with the
    model itself under ``model`` when ``load_model`` is set. ``save`` takes a promotion
    decision (see ``reporting.nodes.decide_promotion``): when it says ``promote``, the
    candidate's fitted model (its run's joblib artifact ``candidate_model``) is logged to
    that same run as a full MLflow model named ``promoted`` (see :func:`log_portable_model`),
    registered as a new version, and the alias moves to it; otherwise nothing changes.
    """

    def __init__(
        self,
        registered_model_name: str,
        alias: str = "champion",
        *,
        load_model: bool = False,
        candidate_model: str = "model.joblib",
        save_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Configure the dataset.

        Args:
            registered_model_name: Name of the model in the registry.
            alias: The alias that marks the champion.
            load_model: Whether ``load`` also loads the champion's model (the exact
                version the alias pointed at, as an sklearn estimator).
            candidate_model: The artifact of a candidate's run that holds its fitted model
                (a joblib file, see the catalog's ``{version}.{model}.regressor``).
            save_args: How a promoted model is logged: ``pip_requirements``,
                ``skops_trusted_types``, ``input_example`` (see :func:`log_portable_model`).
            metadata: Kedro metadata; unused here.
        """
        self._name = registered_model_name
        self._alias = alias
        self._load_model = load_model
        self._candidate_model = candidate_model
        self._save_args = dict(save_args or {})
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        """Describe the current champion.

        Returns:
            ``name``, ``version``, ``run_id``, ``candidate``, ``data_version``,
            ``population_rmse`` and ``holdout_rmse`` (as recorded at promotion; a champion
            promoted before the gate ranked on the served population has no
            ``population_rmse``), ``population``, ``model_uri`` and, with ``load_model``,
            ``model``; or ``{}``.
        """
        import mlflow  # noqa: PLC0415
        from mlflow.exceptions import MlflowException  # noqa: PLC0415

        client = mlflow.MlflowClient()
        try:
            version = client.get_model_version_by_alias(self._name, self._alias)
        except MlflowException:  # no such model, or no such alias yet
            return {}
        scores = {
            name: float(version.tags[name]) if version.tags.get(name) else None
            for name in ("population_rmse", "holdout_rmse")
        }
        champion = {
            "name": self._name,
            "version": int(version.version),
            "run_id": version.run_id,
            "candidate": version.tags.get("candidate", ""),
            "data_version": version.tags.get("data_version", ""),
            **scores,
            "population": version.tags.get("population"),
            "model_uri": f"models:/{self._name}@{self._alias}",
        }
        if self._load_model:
            uri = f"models:/{self._name}/{version.version}"
            champion["model"] = mlflow.sklearn.load_model(uri)
        return champion

    def save(self, data: dict[str, Any]) -> None:
        """Apply a promotion decision.

        Args:
            data: A decision with ``promote``, ``run_id``, ``candidate``,
                ``data_version``, ``population``, ``population_rmse`` and ``holdout_rmse``.
        """
        if not data.get("promote"):
            return
        import joblib  # noqa: PLC0415
        import mlflow  # noqa: PLC0415

        path = f"runs:/{data['run_id']}/{self._candidate_model}"
        model = joblib.load(mlflow.artifacts.download_artifacts(path))  # our own run's file
        info = log_portable_model(model, data["run_id"], **self._save_args)
        version = mlflow.register_model(
            info.model_uri,
            self._name,
            tags={
                "candidate": str(data["candidate"]),
                "data_version": str(data["data_version"]),
                "population": str(data["population"]),
                "population_rmse": repr(float(data["population_rmse"])),
                "holdout_rmse": repr(float(data["holdout_rmse"])),
            },
        )
        client = mlflow.MlflowClient()
        client.set_registered_model_alias(self._name, self._alias, version.version)

    def _describe(self) -> dict[str, Any]:
        return {"registered_model_name": self._name, "alias": self._alias}


def log_portable_model(
    model: Any,
    run_id: str,
    *,
    pip_requirements: list[str],
    skops_trusted_types: list[str],
    input_example: Mapping[str, float] = EXAMPLE_ROW,
    name: str = "promoted",
) -> Any:
    """Log ``model`` to run ``run_id`` as a full MLflow model that loads anywhere.

    The model has the sklearn flavour (``mlflow.sklearn.load_model``: the fitted sklearn
    ``Pipeline``) and the python_function one (``mlflow.pyfunc.load_model``, ``mlflow
    models serve``), saved with skops, with pinned ``pip_requirements``, ``input_example``
    and a signature naming its input columns. It carries this project's feature code
    (``california_housing/features.py``, with the neighbourhood step, as a namespace package
    without ``__init__``), so it loads where the project is not installed; where it is, the
    installed package wins.
    The signature's columns accept any number type: a CSV's integer ``HouseAge`` is as
    valid as a float (MLflow would refuse int64 against a float64 column).

    Args:
        model: The fitted model (it takes the raw columns).
        run_id: The run the model belongs to (the candidate's).
        input_example: One raw row, column -> value (default: the schema's example row).
        pip_requirements: Pinned requirements (``${pinned:...}`` in the catalog).
        skops_trusted_types: Types besides scikit-learn's that skops may load.
        name: The logged model's name in the run.

    Returns:
        MLflow's ``ModelInfo`` (``model_uri`` is what gets registered).
    """
    import mlflow  # noqa: PLC0415
    from mlflow.models import ModelSignature, infer_signature  # noqa: PLC0415
    from mlflow.types.schema import AnyType, ColSpec, Schema  # noqa: PLC0415

    from california_housing import features  # noqa: PLC0415

    example = pd.DataFrame([input_example])
    inferred = infer_signature(example, model.predict(example))
    columns = Schema([ColSpec(AnyType(), column) for column in example.columns])
    experiment_id = mlflow.MlflowClient().get_run(run_id).info.experiment_id
    # created explicitly so that it lands in the run's experiment, whatever the active one
    logged = mlflow.initialize_logged_model(name, source_run_id=run_id, experiment_id=experiment_id)
    with tempfile.TemporaryDirectory() as folder:
        code = Path(folder) / "california_housing"
        code.mkdir()
        shutil.copy(features.__file__, code / "features.py")
        with warnings.catch_warnings():  # MLflow's input-example check uses a pandas API
            warnings.filterwarnings("ignore", message="Operation with range is deprecated")
            return mlflow.sklearn.log_model(
                model,
                name=name,
                run_id=run_id,
                model_id=logged.model_id,
                code_paths=[str(code)],
                signature=ModelSignature(inputs=columns, outputs=inferred.outputs),
                input_example=example,
                pip_requirements=pip_requirements,
                skops_trusted_types=skops_trusted_types,
            )
