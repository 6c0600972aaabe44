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

Datasets wrapped in ``BackgroundMlflowDataset`` (models, figures) are saved by a
background process (``datasets/background.py``) into the candidate's run, which this hook
binds to each candidate node. The hook starts that worker with ``kedro run`` (or with the
pipeline), waits for it before a node outside the candidates loads anything (reporting
reads the candidates' runs), and before the runs are closed.
"""

from __future__ import annotations

import atexit
import gc
import logging
import shutil
import subprocess
from pathlib import Path
from typing import Any, NamedTuple

import click
import pandas as pd
from kedro.framework.hooks import hook_impl
from kedro.io import AbstractVersionedDataset, CachedDataset, MemoryDataset
from kedro.pipeline import Node, Pipeline

from california_housing.datasets import background

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


def background_configs(catalog_config: dict[str, Any]) -> list[dict[str, Any]]:
    """The datasets that ``BackgroundMlflowDataset`` entries of a catalog wrap.

    Args:
        catalog_config: The catalog configuration (entries and patterns).

    Returns:
        One configuration per type of wrapped dataset, for the worker's warm-up.
    """
    wrapped = []
    for value in catalog_config.values():
        entry = value
        while isinstance(entry, dict) and not _is_background(entry):
            entry = entry.get("dataset")  # look inside CachedDataset and the like
        if isinstance(entry, dict) and isinstance(entry.get("dataset"), dict):
            wrapped.append(entry["dataset"])
    return _one_per_type(wrapped)


def _one_per_type(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first configuration of each dataset type (the worker builds each type once)."""
    first: dict[str, dict[str, Any]] = {}
    for config in configs:
        first.setdefault(str(config.get("type")), config)
    return list(first.values())


def _is_background(entry: dict[str, Any]) -> bool:
    return str(entry.get("type", "")).endswith("BackgroundMlflowDataset")


def _unwrap(dataset: Any) -> Any:
    """What a ``CachedDataset`` saves to (the dataset itself otherwise)."""
    return dataset._dataset if isinstance(dataset, CachedDataset) else dataset


def background_configs_of(pipeline: Pipeline, catalog: Any) -> list[dict[str, Any]]:
    """What the ``BackgroundMlflowDataset`` datasets of ``pipeline`` wrap, one per type."""
    datasets = [_unwrap(catalog.get(name)) for name in sorted(pipeline.datasets())]
    return _one_per_type(
        [d.config for d in datasets if isinstance(d, background.BackgroundMlflowDataset)]
    )


class _OpenNode(NamedTuple):
    """A candidate node between ``before_node_run`` and its last saved output."""

    outputs: set[str]  #: outputs not saved yet
    activated: bool  #: whether the child run was made MLflow's active run for it


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
        self._pending: dict[str, _OpenNode] = {}
        self._logged_inputs: set[tuple[str, str]] = set()
        self._datasets: dict[str, Any] = {}
        self._catalog: Any = None

    @hook_impl(trylast=True)  # after kedro-mlflow has set the tracking URI
    def after_context_created(self, context: Any) -> None:
        """Remember the environment and project path; under `kedro run`, start the worker.

        The background worker starts here, not with the pipeline, so that its imports run
        on the core Kedro's own start-up leaves idle. Only the ``kedro run`` command does
        so: an interactive session (``kedro ipython``) starts none until it runs a pipeline.
        """
        self._env = context.env
        self._project_path = Path(context.project_path)
        command = click.get_current_context(silent=True)
        if command is None or command.command.name != "run":
            return
        # The process ends with the command. Its last step, the interpreter's final garbage
        # collection, scans MLflow's and SQLAlchemy's object graphs for ~1 s and frees
        # nothing that matters (every output is saved by then): skip it.
        atexit.register(gc.freeze)
        configs = background_configs(context.config_loader["catalog"])
        if configs:
            import mlflow  # noqa: PLC0415

            background.start_worker(mlflow.get_tracking_uri(), configs)

    @hook_impl(trylast=True)  # after kedro-mlflow has opened the parent run
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any
    ) -> None:
        """Tag the parent run and create one child run per candidate."""
        import mlflow  # noqa: PLC0415 (keeps `kedro --help` fast)

        self._reset()
        parent = mlflow.active_run()
        if parent is None:  # tracking disabled for this pipeline
            background.stop_worker()
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
        self._prepare_worker(pipeline, catalog)

    @staticmethod
    def _prepare_worker(pipeline: Pipeline, catalog: Any) -> None:
        """Open the worker to this run's saves, start it if needed, or stop it if unused."""
        configs = background_configs_of(pipeline, catalog)
        if not configs:
            background.stop_worker()  # nothing for it to do in this run
            return
        worker = background.active_worker()
        if worker is None:  # a session run from Python, not by `kedro run`
            import mlflow  # noqa: PLC0415

            worker = background.start_worker(mlflow.get_tracking_uri(), configs)
        worker.accepting = True

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
        """Point the node's tracking at its candidate's run; record its input datasets.

        Background saves are bound to the child run by id. The child is made MLflow's
        active run (re-opened, nested under the parent) only for nodes that log through
        it: nodes with ``params:`` inputs (kedro-mlflow logs them) and nodes with
        kedro-mlflow outputs that save inline. Re-opening a run costs database round
        trips, so the other nodes skip it.
        """
        child = self._children.get(node.namespace or "")
        if child is None or CANDIDATE_TAG not in node.tags:
            return
        import mlflow  # noqa: PLC0415

        background.bind_run(child)
        activate = self._logs_through_active_run(node)
        if activate:
            active = mlflow.active_run()
            if active is None:  # a fresh thread (ThreadRunner): re-attach the parent first
                mlflow.start_run(run_id=self._parent_id)
            elif active.info.run_id == child:
                mlflow.end_run()  # should not happen; keep the stack one level deep
            mlflow.start_run(run_id=child, nested=True)
        self._pending[node.name] = _OpenNode(set(node.outputs), activate)
        self._log_inputs(mlflow, child, node, inputs)
        if not node.outputs:
            self._node_done(node.name)

    def _logs_through_active_run(self, node: Node) -> bool:
        """Whether kedro-mlflow logs anything of ``node`` to the active run."""
        if any(name.startswith("params:") or name == "parameters" for name in node.inputs):
            return True
        for name in node.outputs:
            dataset = _unwrap(self._catalog.get(name)) if self._catalog is not None else None
            if type(dataset).__module__.startswith("kedro_mlflow."):
                return True
        return False

    def _log_inputs(self, mlflow: Any, child: str, node: Node, inputs: dict[str, Any]) -> None:
        """Record the node's persisted inputs (name, digest, rows, exact file) in ``child``."""
        from mlflow.entities import Dataset, DatasetInput, InputTag  # noqa: PLC0415
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT  # noqa: PLC0415

        own_outputs = f"{node.namespace}."  # the candidate's own results are no inputs
        logged = []
        for name, data in inputs.items():
            if name.startswith(own_outputs) or not isinstance(data, pd.DataFrame):
                continue
            if (child, name) in self._logged_inputs or not self._describe_input(mlflow, name, data):
                continue
            context = "training" if name.endswith("train") else "evaluation"
            entity = Dataset(**self._datasets[name].to_dict())
            logged.append(DatasetInput(entity, [InputTag(MLFLOW_DATASET_CONTEXT, context)]))
            self._logged_inputs.add((child, name))
        if logged:
            mlflow.MlflowClient().log_inputs(child, datasets=logged)

    def _describe_input(self, mlflow: Any, name: str, data: pd.DataFrame) -> bool:
        """Build (once per dataset and run) the MLflow description of an input."""
        if name not in self._datasets:  # digest, schema and profile once per dataset
            dataset = self._catalog.get(name) if self._catalog is not None else None
            if dataset is None or isinstance(dataset, MemoryDataset):
                return False  # intermediate results are not datasets a user can get back
            source = name
            if isinstance(dataset, AbstractVersionedDataset):
                source = str(dataset._get_load_path())  # the exact version that was loaded
            self._datasets[name] = mlflow.data.from_pandas(data, source=source, name=name)
        return True

    @hook_impl
    def before_dataset_loaded(self, node: Node) -> None:
        """Let background saves finish before a non-candidate node reads anything."""
        worker = background.active_worker()
        if worker is not None and worker.pending and CANDIDATE_TAG not in node.tags:
            worker.wait()

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, node: Node) -> None:
        """Once the node's last output is saved, close what ``before_node_run`` opened."""
        pending = self._pending.get(node.name)
        if pending is None:
            return
        pending.outputs.discard(dataset_name)
        if not pending.outputs:
            self._node_done(node.name)

    def _node_done(self, node_name: str) -> None:
        open_node = self._pending.pop(node_name)
        background.bind_run(None)
        if open_node.activated:
            import mlflow  # noqa: PLC0415

            mlflow.end_run()

    @hook_impl
    def on_node_error(self, node: Node) -> None:
        """Mark the candidate's child run FAILED."""
        pending = self._pending.pop(node.name, None)
        if pending is None:
            return
        import mlflow  # noqa: PLC0415

        background.bind_run(None)
        child = self._children.pop(node.namespace or "", None)
        if pending.activated:
            mlflow.end_run(status="FAILED")
        elif child is not None:
            mlflow.MlflowClient().set_terminated(child, status="FAILED")

    @hook_impl(tryfirst=True)  # before kedro-mlflow closes the parent run
    def after_pipeline_run(self) -> None:
        """Wait for background saves, then close any child left open.

        Raises:
            DatasetError: If a background save failed; every run of this
                ``kedro run`` is then closed as FAILED.
        """
        try:
            self._finish_background_saves()
        except Exception:
            self._close_children("FAILED")
            import mlflow  # noqa: PLC0415

            mlflow.end_run(status="FAILED")  # kedro-mlflow's hook is not called now
            raise
        self._close_children("FINISHED")

    @hook_impl(tryfirst=True)
    def on_pipeline_error(self) -> None:
        """Keep what background saves are pending, then close children as FAILED."""
        try:
            self._finish_background_saves()
        except Exception:
            logger.exception("Background MLflow logging failed too")
        self._close_children("FAILED")

    @staticmethod
    def _finish_background_saves() -> None:
        worker = background.active_worker()
        if worker is None:
            return
        try:
            worker.wait()
        finally:
            background.stop_worker()

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
