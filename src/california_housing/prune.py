"""``kedro prune``: remove old dataset versions and MLflow runs, by the retention policy.

A dry run by default: it lists what it would remove and the bytes that frees; ``--yes``
removes exactly that list. What it never removes, and why: ``california_housing.retention``.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from california_housing.traffic import project_context


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


@click.command()
@click.option("--env", "-e", default=None, envvar="KEDRO_ENV", help="Kedro environment.")
@click.option("--yes", is_flag=True, help="Remove what is listed (default: list it only).")
def prune(env: str | None, yes: bool) -> None:
    """Remove old Kedro dataset versions and MLflow runs (retention in parameters_retention.yml).

    Never removes what a registered model version needs: its run, its logged model, the
    data and split versions it was trained and checked on. Lists what it would remove and
    the bytes freed; with --yes, removes exactly that, then runs `mlflow gc` on those runs.
    """
    import mlflow  # noqa: PLC0415

    from california_housing import retention  # noqa: PLC0415

    context = project_context(env)
    policy, names = context.params["retention"], context.config_loader["globals"]
    project = Path(context.project_path)
    client = mlflow.MlflowClient()
    try:
        keep_runs = retention.Keep.parse("runs", policy["runs"])
        keep_monitoring = retention.Keep.parse("monitoring_runs", policy["monitoring_runs"])
        protected_runs, sessions = retention.registered_lineage(
            client, names["registered_model_name"]
        )
        now = datetime.now(UTC)
        removals = retention.plan_dataset_versions(
            project / names["data_root"], policy["versions"], sessions, now=now, project=project
        )
    except (KeyError, ValueError) as exc:
        raise click.ClickException(f"Retention policy: {exc}") from None
    removals += retention.plan_runs(
        client, names["mlflow_experiment"], keep_runs, protected_runs, now=now, kind="run"
    )
    removals += retention.plan_runs(
        client, names["monitoring_experiment"], keep_monitoring, set(), now=now,
        kind="monitoring run",
    )  # fmt: skip
    verb = "removed" if yes else "would remove"
    for removal in removals:
        click.echo(f"{verb}: {removal.kind}: {removal.name} ({_megabytes(removal.bytes)})")
    kinds = ("dataset version", "run", "monitoring run")
    counts = ", ".join(
        f"{sum(r.kind == kind for r in removals)} {kind}(s) "
        f"({_megabytes(sum(r.bytes for r in removals if r.kind == kind))})"
        for kind in kinds
    )
    click.echo(
        f"kedro prune {'' if yes else '(dry run) '}{verb}: {counts}; protected: "
        f"{len(sessions)} registered model version(s)' runs and data."
    )
    if not yes:
        click.echo("Nothing was removed. Run `kedro prune --yes` to remove exactly this list.")
        return
    retention.remove_dataset_versions(removals, project)
    run_ids = retention.remove_runs(client, removals)
    if run_ids:
        uri = mlflow.get_tracking_uri()
        store = ["--tracking-uri", uri] if uri.startswith("http") else ["--backend-store-uri", uri]
        gc = [sys.executable, "-m", "mlflow", "gc", *store, "--run-ids", ",".join(run_ids)]
        if subprocess.run(gc, check=False).returncode:  # noqa: S603
            raise click.ClickException(
                "`mlflow gc` failed (see above): the runs are marked deleted; rerun "
                f"`{' '.join(gc[1:3])} gc` to remove their artifacts."
            )
