"""Which MLflow run a candidate's tracking goes to: the one rule, in one place.

A *candidate* is one data version x one model, named ``{version}.{model}`` (``v3.xgboost``,
``v3.xgboost_tuned``). Each candidate logs to a child run of the run kedro-mlflow opens for
the whole ``kedro run`` (the *parent*). The child run is found or created, by name, the first
time the candidate logs anything, and every dataset that writes for that candidate passes its
id explicitly (``run_id=``): nothing depends on which run is MLflow's active one at the time.
"""

from __future__ import annotations

import threading
from typing import Any

#: Tag of the nodes that belong to a candidate, and tag of a candidate's MLflow run.
CANDIDATE_TAG = "candidate"

_lock = threading.Lock()
_children: dict[tuple[str, str], str] = {}  # (parent, candidate) -> child run id


def candidate_name(version: str, model: str) -> str:
    """The name of a candidate (its namespace, MLflow run name and ``candidate`` tag)."""
    return f"{version}.{model}"


def split_candidate(candidate: str) -> tuple[str, str]:
    """``"v3.xgboost_tuned"`` -> ``("v3", "xgboost_tuned")``."""
    version, _, model = candidate.partition(".")
    return version, model


def parent_run_id() -> str | None:
    """The run kedro-mlflow opened for this ``kedro run`` (None outside a tracked run)."""
    import mlflow  # noqa: PLC0415 (keeps `kedro --help` fast)

    run = mlflow.active_run()
    return run.info.run_id if run is not None else None


def candidate_run_id(candidate: str, parent_id: str | None = None) -> str:
    """The id of ``candidate``'s child run under ``parent_id``, created on first use.

    ``parent_id`` defaults to the run kedro-mlflow opened (the active run); without one,
    RuntimeError says how to get one. The child gets the parent's tags (git commit, kedro
    env...) plus ``candidate``, ``data_version``, ``model_type``. Thread-safe.
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
            found = _children_of(client, parent_id, f"tags.{CANDIDATE_TAG} = '{candidate}'")
            _children[parent_id, candidate] = (
                found[0] if found else _create(client, parent_id, candidate)
            )
        return _children[parent_id, candidate]


def _children_of(client: Any, parent_id: str, condition: str) -> list[str]:
    experiment_id = client.get_run(parent_id).info.experiment_id
    where = f"tags.mlflow.parentRunId = '{parent_id}' and {condition}"
    return [run.info.run_id for run in client.search_runs([experiment_id], where)]


def _create(client: Any, parent_id: str, candidate: str) -> str:
    parent = client.get_run(parent_id)
    version, model = split_candidate(candidate)
    inherited = {
        k: v
        for k, v in parent.data.tags.items()
        if k not in {"mlflow.runName", "mlflow.parentRunId"}
    }
    tags = {"mlflow.parentRunId": parent_id, CANDIDATE_TAG: candidate}
    tags |= {"data_version": version, "model_type": model}
    run = client.create_run(parent.info.experiment_id, run_name=candidate, tags=inherited | tags)
    return run.info.run_id


def close_candidate_runs(
    parent_id: str, status: str = "FINISHED", candidate: str | None = None
) -> int:
    """End the child runs of ``parent_id`` still running; return how many (never creates).

    ``status``: FINISHED or FAILED; ``candidate``: only that one's run (a node failed).
    """
    import mlflow  # noqa: PLC0415

    client = mlflow.MlflowClient()
    condition = "attributes.status = 'RUNNING'"
    if candidate is not None:
        condition += f" and tags.{CANDIDATE_TAG} = '{candidate}'"
    running = _children_of(client, parent_id, condition)
    for run_id in running:
        client.set_terminated(run_id, status=status)
    with _lock:
        for key in [k for k in _children if k[0] == parent_id and candidate in (None, k[1])]:
            del _children[key]
    return len(running)
