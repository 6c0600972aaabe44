"""Retention: what ``kedro prune`` removes, and what it never removes.

The loop runs unattended: every ``kedro run`` saves new Kedro dataset versions
(``<file>/<timestamp>/<file>`` under the data folder) and MLflow runs with artifacts. The
policy (``retention`` in ``parameters_retention.yml``) keeps, of each versioned dataset, the
newest ``keep_last`` versions and any newer than ``keep_days`` days (per layer folder), and of
the MLflow runs, the newest ``keep_last`` ``kedro run``s (a parent run, its candidates and
their trials) and monitoring runs, and any newer than ``keep_days`` days.

Never removed, whatever the policy: what a registered model version still needs. Its run
(the candidate's, with its logged model), that run's parent ``kedro run`` and its trials,
and, of every versioned dataset, the version that model's Kedro session used: the newest
saved no later than the session (its train and test splits, what monitoring reads as the
champion's reference, the split and the holdout it was checked on). Nor the Optuna study,
which is not a versioned dataset.

Removing goes through MLflow's own deletion (``delete_run``), then ``mlflow gc`` removes
those runs' metadata and artifacts for good.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

#: A Kedro save version (and session id): ``2026-12-07T08.14.01.123Z``.
SAVE_VERSION = re.compile(r"^\d{4}-\d\d-\d\dT\d\d\.\d\d\.\d\d\.\d{3}Z$")
_FORMAT = "%Y-%m-%dT%H.%M.%S.%fZ"


@dataclass(frozen=True, order=True)
class Removal:
    """One thing ``kedro prune`` removes."""

    kind: str  # "dataset version", "run" or "monitoring run"
    name: str  # a folder relative to the project, or "<run id> <run name>"
    bytes: int


@dataclass(frozen=True)
class Keep:
    """How much of one kind to keep: the newest ``last``, and any newer than ``days``."""

    last: int
    days: float | None = None

    @classmethod
    def parse(cls, where: str, settings: Mapping[str, Any]) -> Keep:
        """Read ``{keep_last: N, keep_days: D}``, naming what is wrong."""
        last, days = settings.get("keep_last"), settings.get("keep_days")
        if isinstance(last, bool) or not isinstance(last, int) or last < 1:
            raise ValueError(f"retention.{where}.keep_last must be an integer >= 1, got {last!r}.")
        if days is not None and (isinstance(days, bool) or not isinstance(days, int | float)):
            raise ValueError(f"retention.{where}.keep_days must be a number of days or null.")
        return cls(last, None if days is None else float(days))

    def kept(self, times: Mapping[str, datetime], now: datetime) -> set[str]:
        """The names (by their times) this rule keeps."""
        newest = sorted(times, key=lambda name: times[name], reverse=True)[: self.last]
        recent = (
            {name for name, at in times.items() if now - at <= timedelta(days=self.days)}
            if self.days is not None
            else set()
        )
        return set(newest) | recent


def saved_at(version: str) -> datetime:
    """The time of a Kedro save version or session id (UTC)."""
    return datetime.strptime(version, _FORMAT).replace(tzinfo=UTC)


def versioned_datasets(data_root: Path) -> dict[Path, list[str]]:
    """Every Kedro-versioned dataset under ``data_root`` and its save versions, oldest first.

    A versioned dataset is a folder ``<name>`` whose subfolders are save versions, each
    holding ``<name>`` (a file or, for partitioned data, a folder).
    """
    found: dict[Path, list[str]] = {}
    for candidate in sorted(data_root.rglob("*")):
        if not candidate.is_dir():
            continue
        versions = [
            child.name
            for child in candidate.iterdir()
            if SAVE_VERSION.match(child.name) and (child / candidate.name).exists()
        ]
        if versions:
            found[candidate] = sorted(versions)
    return found


def used_version(versions: Iterable[str], session: str) -> str | None:
    """The version a Kedro session read: the newest saved no later than the session."""
    usable = [version for version in versions if version <= session]
    return max(usable) if usable else None


def size(path: Path) -> int:
    """Bytes of a file or of every file under a folder."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def plan_dataset_versions(
    data_root: Path,
    policy: Mapping[str, Any],
    sessions: Iterable[str],
    *,
    now: datetime,
    project: Path,
) -> list[Removal]:
    """The dataset versions the policy removes.

    Args:
        data_root: The environment's data folder.
        policy: ``retention.versions``: ``default`` and optional per-layer rules, by the
            layer folder's name (``05_model_input``).
        sessions: Kedro session ids whose versions are protected (registered models').
        now: The time ``keep_days`` counts back from.
        project: Names are given relative to it.

    Returns:
        One removal per save-version folder, in path order.
    """
    sessions = list(sessions)
    default = Keep.parse("versions.default", policy["default"])
    removals = []
    for dataset, versions in versioned_datasets(data_root).items():
        layer = dataset.relative_to(data_root).parts[0]
        rule = Keep.parse(f"versions.{layer}", policy[layer]) if layer in policy else default
        kept = rule.kept({v: saved_at(v) for v in versions}, now)
        kept |= {used for s in sessions if (used := used_version(versions, s)) is not None}
        removals += [
            Removal("dataset version", str((dataset / v).relative_to(project)), size(dataset / v))
            for v in versions
            if v not in kept
        ]
    return removals


def remove_dataset_versions(removals: Iterable[Removal], project: Path) -> None:
    """Delete the save-version folders of ``removals`` (relative to ``project``)."""
    for removal in removals:
        if removal.kind == "dataset version":
            shutil.rmtree(project / removal.name)


def registered_lineage(client: Any, model_name: str) -> tuple[set[str], set[str]]:
    """What the registered versions of ``model_name`` need from MLflow and from the data.

    Args:
        client: An ``mlflow.MlflowClient``.
        model_name: The registered model.

    Returns:
        The run ids never to remove (each version's run and its parent ``kedro run``) and
        the Kedro session ids whose dataset versions are never removed.
    """
    runs, sessions = set(), set()
    for version in client.search_model_versions(f"name = '{model_name}'"):
        run = client.get_run(version.run_id)
        runs.add(run.info.run_id)
        if parent := run.data.tags.get("mlflow.parentRunId"):
            runs.add(parent)
        if session := run.data.tags.get("kedro_session_id"):
            sessions.add(session)
    return runs, sessions


def _artifact_bytes(client: Any, run_id: str, path: str | None = None) -> int:
    total = 0
    for item in client.list_artifacts(run_id, path):
        total += _artifact_bytes(client, run_id, item.path) if item.is_dir else item.file_size or 0
    return total


def plan_runs(
    client: Any,
    experiment_name: str,
    keep: Keep,
    protected: set[str],
    *,
    now: datetime,
    kind: str,
) -> list[Removal]:
    """The runs of an experiment the policy removes: whole trees of top-level runs.

    A top-level run (a ``kedro run``'s parent run, or a monitoring run) is kept when the
    rule keeps it or when it, or a run under it, is protected; a removed one goes with every
    run under it (candidates, trials).

    Args:
        client: An ``mlflow.MlflowClient``.
        experiment_name: The experiment (none yet: nothing to remove).
        keep: The rule for its top-level runs.
        protected: Run ids never to remove.
        now: The time ``keep.days`` counts back from.
        kind: What the removals are called.

    Returns:
        One removal per run, its artifacts' bytes included.
    """
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return []
    runs = client.search_runs([experiment.experiment_id], max_results=50_000)
    children: dict[str, list[Any]] = {}
    for run in runs:
        children.setdefault(run.data.tags.get("mlflow.parentRunId", ""), []).append(run)

    def tree(run: Any) -> list[Any]:
        return [run, *(r for child in children.get(run.info.run_id, []) for r in tree(child))]

    tops = {run.info.run_id: run for run in children.get("", [])}
    times = {i: datetime.fromtimestamp(r.info.start_time / 1000, UTC) for i, r in tops.items()}
    kept = keep.kept(times, now) | {
        i for i, r in tops.items() if any(t.info.run_id in protected for t in tree(r))
    }
    return [
        Removal(
            kind,
            f"{run.info.run_id} {run.info.run_name}",
            _artifact_bytes(client, run.info.run_id),
        )
        for top in sorted(set(tops) - kept, key=lambda i: times[i])
        for run in tree(tops[top])
    ]


def remove_runs(client: Any, removals: Iterable[Removal]) -> list[str]:
    """Mark the runs of ``removals`` deleted (``mlflow gc`` then removes them for good).

    Returns:
        Their run ids.
    """
    run_ids = [r.name.split(" ", 1)[0] for r in removals if r.kind != "dataset version"]
    for run_id in run_ids:
        client.delete_run(run_id)
    return run_ids
