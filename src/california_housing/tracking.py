"""Which MLflow run a candidate's tracking goes to: the one rule, in one place.

A *candidate* is one data version x one model, ``{version}.{model}`` (``v3.xgboost``). It
logs to a child run of the run kedro-mlflow opens for the ``kedro run`` (the *parent*),
found or created by name the first time the candidate logs. Every writer passes that id
explicitly (``run_id=``): nothing depends on which run is MLflow's active one.
"""

from __future__ import annotations

import hashlib
import json
import threading
import warnings
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

#: Tag of the nodes that belong to a candidate, and tag of a candidate's MLflow run.
CANDIDATE_TAG = "candidate"

_lock = threading.Lock()
_children: dict[tuple[str, str], str] = {}  # (parent, candidate) -> child run id


def candidate_name(version: str, model: str) -> str:
    """The name of a candidate (its namespace, MLflow run name and ``candidate`` tag)."""
    return f"{version}.{model}"


def parent_run_id() -> str | None:
    """The run kedro-mlflow opened for this ``kedro run`` (None outside a tracked run)."""
    import mlflow  # noqa: PLC0415 (keeps `kedro --help` fast)

    run = mlflow.active_run()
    return run.info.run_id if run is not None else None


def candidate_run_id(candidate: str, parent_id: str | None = None) -> str:
    """The id of ``candidate``'s child run under ``parent_id``, created on first use.

    ``parent_id`` defaults to the active run (kedro-mlflow's). The child gets the parent's
    tags (git commit, kedro env...) plus ``candidate``, ``data_version``, ``model_type``.
    Thread-safe.

    Raises:
        RuntimeError: No parent run; the message says how to get one.
    """
    import mlflow  # noqa: PLC0415

    parent_id = parent_id or parent_run_id()
    if parent_id is None:
        raise RuntimeError(
            f"No MLflow run is active, so candidate {candidate!r} has no run to log to. "
            "Run it with `kedro run` (kedro-mlflow opens the parent run), or start a run "
            "with `mlflow.start_run()` first."
        )
    with _lock:
        if (parent_id, candidate) not in _children:
            client = mlflow.MlflowClient()
            parent = client.get_run(parent_id)
            found = _children_of(client, parent, f"tags.{CANDIDATE_TAG} = '{candidate}'")
            _children[parent_id, candidate] = (
                found[0] if found else _create(client, parent, candidate)
            )
        return _children[parent_id, candidate]


def _children_of(client: MlflowClient, parent: Run, condition: str) -> list[str]:
    where = f"tags.mlflow.parentRunId = '{parent.info.run_id}' and {condition}"
    return [run.info.run_id for run in client.search_runs([parent.info.experiment_id], where)]


def _create(client: MlflowClient, parent: Run, candidate: str) -> str:
    version, _, model = candidate.partition(".")
    tags = {k: v for k, v in parent.data.tags.items() if k != "mlflow.runName"}
    tags |= {"mlflow.parentRunId": parent.info.run_id, CANDIDATE_TAG: candidate}
    tags |= {"data_version": version, "model_type": model}
    run = client.create_run(parent.info.experiment_id, run_name=candidate, tags=tags)
    return run.info.run_id


def close_candidate_runs(parent_id: str, status: str = "FINISHED") -> int:
    """End ``parent_id``'s child runs still running with ``status``; return how many.

    Never creates a run, so a ``kedro run`` that failed before its first candidate has none.
    """
    import mlflow  # noqa: PLC0415

    client = mlflow.MlflowClient()
    running = _children_of(client, client.get_run(parent_id), "attributes.status = 'RUNNING'")
    for run_id in running:
        client.set_terminated(run_id, status=status)
    with _lock:
        for key in [key for key in _children if key[0] == parent_id]:
            del _children[key]
    return len(running)


def table_record(name: str, data: pd.DataFrame, uri: str, context: str) -> Any:
    """MLflow's record of a table read from or written to ``uri``, as a run's input.

    Name, digest of every row, schema (inferred from 100 rows: a whole table takes ~0.5 s),
    row count and file, tagged with ``context`` (``training``, ``evaluation``...).
    """
    from mlflow.entities import Dataset, DatasetInput, InputTag  # noqa: PLC0415
    from mlflow.models import infer_signature  # noqa: PLC0415

    with warnings.catch_warnings():  # a hint that integer columns cannot hold NaN: for models
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        schema = infer_signature(data.head(100)).inputs.to_dict()
    hashed = pd.util.hash_pandas_object(data).to_numpy().tobytes()
    dataset = Dataset(
        name=name,
        digest=hashlib.sha256(hashed).hexdigest()[:8],
        source_type="local",
        source=json.dumps({"uri": uri}),
        schema=json.dumps({"mlflow_colspec": schema}),
        profile=json.dumps({"num_rows": len(data), "num_elements": int(data.size)}),
    )
    return DatasetInput(dataset, [InputTag("mlflow.data.context", context)])
