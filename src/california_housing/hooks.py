"""What kedro-mlflow does not know about the runs; stateless, every write by run id.

kedro-mlflow opens one run per ``kedro run`` (the parent) and logs all ``params:`` to it.
:class:`TrackingHook` adds to the parent what made it (git commit, env, pipelines,
session); to a candidate's child run (``tracking.candidate_run_id``), before each of its
nodes, the node's ``params:`` and the catalog files it reads (MLflow dataset tracking),
which describe that candidate; and ends the child runs with the pipeline. A child is
created by its candidate's first node, so a run failing before has none. Outputs reach
the child through catalog entries that name it (``datasets/candidate_datasets.py``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
import warnings
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import AbstractVersionedDataset
from kedro.pipeline import Node, Pipeline

from california_housing.tracking import (
    CANDIDATE_TAG,
    candidate_run_id,
    close_candidate_runs,
    parent_run_id,
)

MAX_PARAM_LENGTH = 6000  #: MLflow's limit; longer values become tags, as in kedro-mlflow


def git_commit(path: Path) -> tuple[str, bool] | None:
    """``(sha, dirty)`` of the git work tree at ``path``; None outside one (or no git)."""
    git = shutil.which("git") or "git"  # not installed: FileNotFoundError below
    try:
        sha, status = (
            subprocess.run(  # noqa: S603 (fixed arguments)
                [git, *args], cwd=path, capture_output=True, text=True, check=True
            ).stdout
            for args in (["rev-parse", "HEAD"], ["status", "--porcelain"])
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return sha.strip(), bool(status.strip())


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``, the way kedro-mlflow names parameters."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, Mapping) and value:
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _log_inputs(client: Any, run_id: str, datasets: list[Any]) -> None:
    """Log input datasets to ``run_id``, trying twice.

    Workers that log the same dataset (name and digest) to one tracking server at the same
    moment race on its insert; the server refuses the loser, whose second try finds it.
    """
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    try:
        client.log_inputs(run_id, datasets=datasets)
    except MlflowException:
        time.sleep(0.5)
        client.log_inputs(run_id, datasets=datasets)


def _candidate(node: Node) -> str | None:
    return node.namespace if CANDIDATE_TAG in node.tags and node.namespace else None


class TrackingHook:
    """Tag the parent run; log candidates' params and inputs to their runs; end them."""

    @hook_impl(trylast=True)  # after kedro-mlflow has opened the parent run
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        """Tag the parent run with the code, env, pipelines and session that made it."""
        import mlflow  # noqa: PLC0415 (keeps `kedro --help` fast)

        if parent_run_id() is None:  # tracking disabled for this pipeline
            return
        tags = {
            "kedro_env": str(run_params.get("env") or "local"),
            "kedro_pipeline": ",".join(run_params.get("pipeline_names") or ["__default__"]),
            "kedro_session_id": str(run_params.get("run_id") or ""),  # also the save version
        }
        if commit := git_commit(Path(run_params.get("project_path") or Path.cwd())):
            tags |= {"git_commit": commit[0], "mlflow.source.git.commit": commit[0]}
            tags["git_dirty"] = str(commit[1]).lower()
        mlflow.set_tags(tags)

    @hook_impl(trylast=True)  # after kedro-mlflow has (re)attached the parent run
    def before_node_run(self, node: Node, catalog: Any, inputs: dict[str, Any]) -> None:
        """Log a candidate node's ``params:`` inputs and catalog files to its child run."""
        candidate = _candidate(node)
        if candidate is None or parent_run_id() is None:
            return
        import mlflow  # noqa: PLC0415
        from mlflow.entities import DatasetInput, InputTag, Param  # noqa: PLC0415

        params = flatten({k[7:]: v for k, v in inputs.items() if k.startswith("params:")})
        datasets = [
            DatasetInput(dataset, [InputTag("mlflow.data.context", context)])
            for name, data in inputs.items()
            if (dataset := _input_dataset(catalog, name, data, own=f"{candidate}."))
            for context in ["training" if name.endswith("train") else "evaluation"]
        ]
        if not params and not datasets:
            return
        run_id, client = candidate_run_id(candidate), mlflow.MlflowClient()
        long = {k: str(v) for k, v in params.items() if len(str(v)) > MAX_PARAM_LENGTH}
        for key, value in long.items():
            client.set_tag(run_id, key, value)
        short = [Param(k, str(v)) for k, v in params.items() if k not in long]
        client.log_batch(run_id, params=short)
        if datasets:
            _log_inputs(client, run_id, datasets)

    @hook_impl
    def on_node_error(self, node: Node) -> None:
        """Mark the failed node's candidate run ``FAILED`` (if the candidate has one)."""
        if (candidate := _candidate(node)) and (parent := parent_run_id()):
            close_candidate_runs(parent, "FAILED", candidate=candidate)

    @hook_impl(tryfirst=True)  # before kedro-mlflow ends the parent run
    def after_pipeline_run(self, pipeline: Pipeline) -> None:
        """End the candidate runs ``FINISHED``."""
        _close(pipeline, "FINISHED")

    @hook_impl(tryfirst=True)  # before kedro-mlflow ends the parent run
    def on_pipeline_error(self, pipeline: Pipeline) -> None:
        """End the candidate runs still running ``FAILED``."""
        _close(pipeline, "FAILED")


def _close(pipeline: Pipeline, status: str) -> None:
    if (parent := parent_run_id()) and any(_candidate(node) for node in pipeline.nodes):
        close_candidate_runs(parent, status)


def _input_dataset(catalog: Any, name: str, data: Any, own: str) -> Any:
    """MLflow's record (name, digest, schema, rows, file) of a catalog file's table.

    None for parameters, in-memory data and the candidate's ``own`` results.
    """
    import pandas as pd  # noqa: PLC0415

    if name.startswith(("params:", own)) or not isinstance(data, pd.DataFrame):
        return None
    filepath = catalog.config_resolver.resolve_pattern(name).get("filepath")
    if not filepath:
        return None
    from mlflow.entities import Dataset  # noqa: PLC0415
    from mlflow.models import infer_signature  # noqa: PLC0415

    versioned = catalog.get(name)
    if isinstance(versioned, AbstractVersionedDataset) and versioned.resolve_load_version():
        path = PurePosixPath(filepath)  # Kedro's layout: <filepath>/<version>/<file name>
        filepath = str(path / versioned.resolve_load_version() / path.name)
    with warnings.catch_warnings():  # MLflow's hint that integer columns cannot hold NaN:
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        schema = infer_signature(data.head(100)).inputs.to_dict()  # advice for models only
    hashed = pd.util.hash_pandas_object(data).to_numpy().tobytes()  # every row, index too
    return Dataset(
        name=name,
        digest=hashlib.sha256(hashed).hexdigest()[:8],
        source_type="local",
        source=json.dumps({"uri": filepath}),
        schema=json.dumps({"mlflow_colspec": schema}),
        profile=json.dumps({"num_rows": len(data), "num_elements": int(data.size)}),
    )
