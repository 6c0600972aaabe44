"""What kedro-mlflow does not know about the runs; stateless, every write by run id.

kedro-mlflow opens one run per ``kedro run`` (the parent) and logs all ``params:`` to it.
:class:`TrackingHook` tags the parent with what made it (git commit, env, pipelines,
session); logs, before each candidate node, the node's ``params:`` and the catalog files
it reads to that candidate's child run (``tracking.candidate_run_id``: created by the
candidate's first node, so a run failing before has none); and ends the child runs with
the pipeline. Outputs reach the child through catalog entries that name it
(``datasets/candidate_datasets.py``).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
from kedro.framework.hooks import hook_impl
from kedro.io import AbstractVersionedDataset
from kedro.pipeline import Node, Pipeline

from california_housing.tracking import (
    CANDIDATE_TAG,
    candidate_run_id,
    close_candidate_runs,
    parent_run_id,
    table_record,
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
        """Log a candidate node's ``params:`` and the catalog files it reads to its run.

        Files are MLflow input datasets (``training`` for a train split, else
        ``evaluation``); in-memory data and the candidate's own results are not inputs.
        """
        candidate = _candidate(node)
        if candidate is None or parent_run_id() is None:
            return
        import mlflow  # noqa: PLC0415
        from mlflow.entities import Param  # noqa: PLC0415

        params = flatten({k[7:]: v for k, v in inputs.items() if k.startswith("params:")})
        files = {
            name: (uri, "training" if name.endswith("train") else "evaluation")
            for name in inputs
            if isinstance(inputs[name], pd.DataFrame)
            and not name.startswith(f"{candidate}.")
            and (uri := _file_read(catalog, name))
        }
        if not params and not files:
            return
        run_id, client = candidate_run_id(candidate), mlflow.MlflowClient()
        long = {k: str(v) for k, v in params.items() if len(str(v)) > MAX_PARAM_LENGTH}
        for key, value in long.items():
            client.set_tag(run_id, key, value)
        client.log_batch(
            run_id, params=[Param(k, str(v)) for k, v in params.items() if k not in long]
        )
        records = [
            table_record(name, inputs[name], uri, context) for name, (uri, context) in files.items()
        ]
        try:  # workers logging the same new dataset to one server race on its insert:
            client.log_inputs(run_id, datasets=records)
        except mlflow.exceptions.MlflowException:  # the loser's second try finds it
            time.sleep(0.5)
            client.log_inputs(run_id, datasets=records)

    @hook_impl(tryfirst=True)  # before kedro-mlflow ends the parent run
    def after_pipeline_run(self, pipeline: Pipeline) -> None:
        """End the candidate runs ``FINISHED``."""
        _close(pipeline, "FINISHED")

    @hook_impl(tryfirst=True)  # before kedro-mlflow ends the parent run
    def on_pipeline_error(self, pipeline: Pipeline) -> None:
        """End the candidate runs ``FAILED``: the ``kedro run`` that made them failed."""
        _close(pipeline, "FAILED")


def _close(pipeline: Pipeline, status: str) -> None:
    if (parent := parent_run_id()) and any(_candidate(node) for node in pipeline.nodes):
        close_candidate_runs(parent, status)


def _file_read(catalog: Any, name: str) -> str | None:
    """The file a catalog entry loads, its exact version included; None if not a file."""
    filepath = catalog.config_resolver.resolve_pattern(name).get("filepath")
    dataset = catalog.get(name)
    if filepath and isinstance(dataset, AbstractVersionedDataset):
        version = dataset.resolve_load_version()  # Kedro's <filepath>/<version>/<file name>
        path = PurePosixPath(filepath)
        filepath = str(path / version / path.name) if version else filepath
    return filepath
