"""Project hook: what kedro-mlflow does not know about the runs (tags, candidate runs).

kedro-mlflow opens one run per ``kedro run`` (the parent) and logs every ``params:`` input
to it. :class:`TrackingHook` adds, by run id and without keeping state between calls:

- to the parent: the git commit (and whether the work tree was dirty), the kedro env, the
  pipelines and the session id, so a run says what code and configuration made it;
- to a candidate's child run (``tracking.candidate_run_id``), before each of its nodes: the
  node's ``params:`` inputs and the catalog files it reads (MLflow dataset tracking: name,
  digest, rows, file), because those describe the candidate, not the whole run. The child
  run is created then, by the candidate's first node: a run that fails before any
  candidate leaves no empty child runs;
- at the end: every child run still running is ended, ``FINISHED`` or ``FAILED``.

The candidate's outputs (metrics, figure, model) go to the child run through their
catalog entries (``datasets/candidate_datasets.py``), which name the candidate.
"""

from __future__ import annotations

import json
import shutil
import subprocess
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

#: MLflow's limit on a parameter value's length; longer values become tags (as kedro-mlflow).
MAX_PARAM_LENGTH = 6000


def git_commit(path: Path) -> tuple[str, bool] | None:
    """The commit checked out at ``path`` and whether the work tree has changes.

    Args:
        path: A folder inside a git work tree.

    Returns:
        ``(sha, dirty)``, or None when ``path`` is not in a git work tree.
    """
    git = shutil.which("git")
    if git is None:
        return None
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
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat |= flatten(value, f"{name}.")
        else:
            flat[name] = value
    return flat


def _context(name: str) -> str:
    """MLflow's dataset context of an input: what the candidate does with it."""
    return "training" if name.endswith("train") else "evaluation"


def _candidate(node: Node) -> str | None:
    """The candidate ``node`` belongs to (its namespace), if it is tagged as one."""
    return node.namespace if CANDIDATE_TAG in node.tags and node.namespace else None


class TrackingHook:
    """Tag the parent run; log candidates' params and inputs; end their runs."""

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
        commit = git_commit(Path(run_params.get("project_path") or Path.cwd()))
        if commit is not None:
            sha, dirty = commit
            tags |= {
                "git_commit": sha,
                "mlflow.source.git.commit": sha,
                "git_dirty": str(dirty).lower(),
            }
        mlflow.set_tags(tags)

    @hook_impl(trylast=True)  # after kedro-mlflow has (re)attached the parent run
    def before_node_run(self, node: Node, catalog: Any, inputs: dict[str, Any]) -> None:
        """Log a candidate node's ``params:`` inputs and catalog files to its child run."""
        candidate = _candidate(node)
        if candidate is None or parent_run_id() is None:
            return
        import mlflow  # noqa: PLC0415
        from mlflow.entities import DatasetInput, InputTag, Param  # noqa: PLC0415

        params = flatten({k[len("params:") :]: v for k, v in inputs.items() if k[:7] == "params:"})
        datasets = [
            DatasetInput(dataset, [InputTag("mlflow.data.context", _context(name))])
            for name, data in inputs.items()
            if (dataset := _input_dataset(catalog, name, data, own=f"{candidate}.")) is not None
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
            client.log_inputs(run_id, datasets=datasets)

    @hook_impl
    def on_node_error(self, node: Node) -> None:
        """Mark the failed node's candidate run ``FAILED`` (if the candidate has one)."""
        candidate, parent = _candidate(node), parent_run_id()
        if candidate is not None and parent is not None:
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
    parent = parent_run_id()
    if parent is not None and any(_candidate(node) for node in pipeline.nodes):
        close_candidate_runs(parent, status)


def _input_dataset(catalog: Any, name: str, data: Any, own: str) -> Any:
    """MLflow's record of a node input that is a table the user can find in the catalog.

    Args:
        catalog: The run's catalog.
        name: The input's name.
        data: The loaded input.
        own: Prefix of the candidate's own datasets (its results are not its inputs).

    Returns:
        An ``mlflow.entities.Dataset`` (name, digest, schema, rows, file), or None for
        parameters, a candidate's own results, in-memory data and non-tables.
    """
    import pandas as pd  # noqa: PLC0415

    if name.startswith(("params:", own)) or not isinstance(data, pd.DataFrame):
        return None
    filepath = catalog.config_resolver.resolve_pattern(name).get("filepath")
    if not filepath:
        return None
    import mlflow  # noqa: PLC0415
    from mlflow.data.code_dataset_source import CodeDatasetSource  # noqa: PLC0415
    from mlflow.entities import Dataset  # noqa: PLC0415

    versioned = catalog.get(name)
    if isinstance(versioned, AbstractVersionedDataset) and versioned.resolve_load_version():
        # Kedro's versioned layout: <filepath>/<version>/<file name>
        path = PurePosixPath(filepath)
        filepath = str(path / versioned.resolve_load_version() / path.name)
    with warnings.catch_warnings():
        # MLflow's schema inference hints that integer columns cannot hold NaN (advice for
        # model signatures; this is a record of data), and its digest calls a pandas API
        # that pandas 4 changes: nothing a user of this project can act on
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        warnings.filterwarnings("ignore", message="Starting with pandas version 4")
        dataset = mlflow.data.from_pandas(data, source=CodeDatasetSource({}), name=name)
        described = dataset.to_dict()  # computes the schema
    source = {"source_type": "local", "source": json.dumps({"uri": filepath})}
    return Dataset(**(described | source))
