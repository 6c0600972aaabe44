"""Project hooks: the MLflow run layout (one child run per candidate).

kedro-mlflow opens one run per ``kedro run``. :class:`CandidateRunsHook` adds, under it,
one child run per candidate (a ``{version}.{model}`` namespace whose nodes are tagged
``candidate``), so each candidate's parameters, metrics, figure, model and input datasets
land in a run of their own and the MLflow UI can compare candidates side by side.

How: the child runs are created when the pipeline starts; each candidate node re-opens
its child (nested under the parent) before it runs, so everything kedro-mlflow logs for
that node (its ``params:`` inputs, and the kedro-mlflow datasets it saves) goes to the
child; the child is closed once the node's last output is saved (outputs are saved after
``after_node_run``). Requires ``tracking.run.nested: false`` in ``mlflow.yml``.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.framework.hooks import hook_impl
from kedro.io import AbstractVersionedDataset, MemoryDataset
from kedro.pipeline import Node, Pipeline

logger = logging.getLogger(__name__)

#: Tag of the nodes that belong to a candidate; their namespace names the candidate.
CANDIDATE_TAG = "candidate"


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
        sha = subprocess.run(  # noqa: S603 (fixed arguments)
            [git, "rev-parse", "HEAD"],
            cwd=path,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        status = subprocess.run(  # noqa: S603
            [git, "status", "--porcelain"],
            cwd=path,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return sha, bool(status.strip())


def candidate_namespaces(pipeline: Pipeline) -> list[str]:
    """Namespaces of the candidate nodes in ``pipeline``, sorted."""
    return sorted(
        {node.namespace for node in pipeline.nodes if CANDIDATE_TAG in node.tags and node.namespace}
    )


class CandidateRunsHook:
    """Open one MLflow child run per candidate under kedro-mlflow's run."""

    def __init__(self) -> None:
        """Start with no run state."""
        self._env: str | None = None
        self._project_path: Path = Path.cwd()
        self._reset()

    def _reset(self) -> None:
        self._parent_id: str | None = None
        self._children: dict[str, str] = {}
        self._pending: dict[str, set[str]] = {}
        self._logged_inputs: set[tuple[str, str]] = set()
        self._datasets: dict[str, Any] = {}
        self._catalog: Any = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Remember the environment and project path for the run tags."""
        self._env = context.env
        self._project_path = Path(context.project_path)

    @hook_impl(trylast=True)  # after kedro-mlflow has opened the parent run
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any
    ) -> None:
        """Tag the parent run and create one child run per candidate."""
        import mlflow  # noqa: PLC0415 (keeps `kedro --help` fast)

        self._reset()
        parent = mlflow.active_run()
        if parent is None:  # tracking disabled for this pipeline
            return
        self._parent_id = parent.info.run_id
        self._catalog = catalog
        tags = self._common_tags(run_params)
        mlflow.set_tags(tags)
        client = mlflow.MlflowClient()
        for namespace in candidate_namespaces(pipeline):
            version, _, model = namespace.partition(".")
            run = client.create_run(
                parent.info.experiment_id,
                run_name=namespace,
                tags={
                    **tags,
                    "mlflow.parentRunId": self._parent_id,
                    "candidate": namespace,
                    "data_version": version,
                    "model_type": model,
                },
            )
            self._children[namespace] = run.info.run_id
        logger.info(
            "MLflow: %d candidate run(s) under run %s", len(self._children), self._parent_id
        )

    def _common_tags(self, run_params: dict[str, Any]) -> dict[str, str]:
        tags = {
            "kedro_env": str(self._env or run_params.get("env") or "local"),
            "kedro_pipeline": ",".join(run_params.get("pipeline_names") or ["__default__"]),
            "kedro_session_id": str(run_params.get("run_id", "")),  # also the save version
        }
        commit = git_commit(self._project_path)
        if commit is not None:
            sha, dirty = commit
            tags |= {
                "git_commit": sha,
                "mlflow.source.git.commit": sha,
                "git_dirty": str(dirty).lower(),
            }
        return tags

    @hook_impl(tryfirst=True)  # before kedro-mlflow logs the node's parameters
    def before_node_run(self, node: Node, inputs: dict[str, Any]) -> None:
        """Re-open the candidate's child run and record its input datasets."""
        child = self._children.get(node.namespace or "")
        if child is None or CANDIDATE_TAG not in node.tags:
            return
        import mlflow  # noqa: PLC0415

        active = mlflow.active_run()
        if active is None:  # a fresh thread (ThreadRunner): re-attach the parent first
            mlflow.start_run(run_id=self._parent_id)
        elif active.info.run_id == child:
            mlflow.end_run()  # should not happen; keep the stack one level deep
        mlflow.start_run(run_id=child, nested=True)
        self._pending[node.name] = set(node.outputs)
        own_outputs = f"{node.namespace}."  # the candidate's own results are no inputs
        for name, data in inputs.items():
            if name.startswith(own_outputs) or not isinstance(data, pd.DataFrame):
                continue
            if (child, name) not in self._logged_inputs:
                self._log_input(mlflow, name, data)
                self._logged_inputs.add((child, name))
        if not node.outputs:
            mlflow.end_run()

    def _log_input(self, mlflow: Any, name: str, data: pd.DataFrame) -> None:
        """Record a persisted input (name, digest, rows, exact file) in the child run."""
        if name not in self._datasets:  # digest and profile once per dataset and run
            dataset = self._catalog.get(name) if self._catalog is not None else None
            if dataset is None or isinstance(dataset, MemoryDataset):
                return  # intermediate results are not datasets a user can get back
            source = name
            if isinstance(dataset, AbstractVersionedDataset):
                source = str(dataset._get_load_path())  # the exact version that was loaded
            self._datasets[name] = mlflow.data.from_pandas(data, source=source, name=name)
        context = "training" if name.endswith("train") else "evaluation"
        mlflow.log_input(self._datasets[name], context=context)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, node: Node) -> None:
        """Close the child run once the node's last output is saved."""
        pending = self._pending.get(node.name)
        if pending is None:
            return
        pending.discard(dataset_name)
        if not pending:
            import mlflow  # noqa: PLC0415

            del self._pending[node.name]
            mlflow.end_run()

    @hook_impl
    def on_node_error(self, node: Node) -> None:
        """Mark the candidate's child run FAILED."""
        if self._pending.pop(node.name, None) is not None:
            import mlflow  # noqa: PLC0415

            mlflow.end_run(status="FAILED")
            self._children.pop(node.namespace or "", None)

    @hook_impl(tryfirst=True)  # before kedro-mlflow closes the parent run
    def after_pipeline_run(self) -> None:
        """Close any child left open."""
        self._close_children("FINISHED")

    @hook_impl(tryfirst=True)
    def on_pipeline_error(self) -> None:
        """Close any child left open, as FAILED."""
        self._close_children("FAILED")

    def _close_children(self, status: str) -> None:
        if self._parent_id is None:
            return
        import mlflow  # noqa: PLC0415

        active = mlflow.active_run()
        while active is not None and active.info.run_id != self._parent_id:
            mlflow.end_run(status=status)
            active = mlflow.active_run()
        client = mlflow.MlflowClient()
        for run_id in self._children.values():
            if client.get_run(run_id).info.status == "RUNNING":
                client.set_terminated(run_id, status=status)
        self._reset()
