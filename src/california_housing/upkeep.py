"""The unattended loop: ``kedro monitor``, ``kedro prune`` and ``kedro archive``.

``kedro monitor`` runs the monitoring pipeline, then retraining when the decision advises it
(and pruning after a retrain when the retention policy says so).

``kedro prune`` removes old dataset versions and MLflow runs by the retention policy: a dry
run by default, listing what it would remove and the bytes that frees; ``--yes`` removes
exactly that list. What it never removes, and why: ``california_housing.retention``.

``kedro archive`` moves the prediction log's whole days older than
``serving.log_archive_after_days`` to Parquet files (``serving/log/archive.py``).
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


@click.command()
@click.option("--env", "-e", default=None, envvar="KEDRO_ENV", help="Kedro environment.")
def archive(env: str | None) -> None:
    """Move the prediction log's old days to its archive (serving.log_archive, Parquet by day).

    Every whole UTC day older than serving.log_archive_after_days leaves the database in one
    transaction per day; monitoring and retraining read the database and the archive.
    """
    from datetime import timedelta  # noqa: PLC0415

    from california_housing.serving.log import archive as log_archive  # noqa: PLC0415
    from california_housing.serving.log.store import create_log_engine  # noqa: PLC0415
    from california_housing.serving.settings import load_settings  # noqa: PLC0415

    try:
        settings = load_settings(env)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if not settings.log_archive:
        raise click.ClickException(
            "No archive is configured: set serving.log_archive in parameters_serving.yml."
        )
    cutoff = datetime.now(UTC) - timedelta(days=settings.log_archive_after_days)
    engine = create_log_engine(settings.log_db_url)
    try:
        moved = log_archive.archive_before(engine, settings.log_archive, cutoff)
    finally:
        engine.dispose()
    for day in moved:
        click.echo(
            f"archived {day.day.isoformat()}: {day.predictions} prediction(s), "
            f"{day.feedback} feedback row(s)"
        )
    click.echo(
        f"kedro archive: {len(moved)} day(s) before {cutoff:%Y-%m-%d} moved to "
        f"{settings.log_archive}."
    )


@click.command()
@click.option("--env", "-e", default=None, envvar="KEDRO_ENV", help="Kedro environment.")
@click.option(
    "--retrain/--no-retrain",
    "retrain",
    default=None,
    help="Run the retrain pipeline when the decision advises it "
    "(default: monitoring.auto_retrain).",
)
@click.option(
    "--params",
    default=None,
    help="Passed to both runs, e.g. prediction_log_url=sqlite:////path/log.db",
)
def monitor(env: str | None, retrain: bool | None, params: str | None) -> None:
    """Run the monitoring pipeline, then retraining if the decision advises it.

    Two separate `kedro run`s, one after the other (a pipeline never runs another from
    inside a node): `kedro run --pipelines monitoring`, then, when decision.json says
    `retrain: true` and retraining is on, `kedro run --pipelines retrain`.
    """
    env_args = (["--env", env] if env else []) + (["--params", params] if params else [])
    kedro = [sys.executable, "-m", "kedro", "run"]
    if subprocess.run([*kedro, "--pipelines", "monitoring", *env_args], check=False).returncode:  # noqa: S603
        raise click.ClickException("The monitoring run failed (see its log above).")
    context = project_context(env)
    decision = context.catalog.load("monitoring_decision")
    auto = context.params["monitoring"].get("auto_retrain", False) if retrain is None else retrain
    click.echo(f"monitoring: status={decision['status']} retrain={decision['retrain']}")
    for reason in decision["reasons"]:
        click.echo(f"  - {reason}")
    if not (decision["retrain"] and auto):
        return
    click.echo("retraining: kedro run --pipelines retrain")
    if subprocess.run([*kedro, "--pipelines", "retrain", *env_args], check=False).returncode:  # noqa: S603
        raise click.ClickException("The retrain run failed (see its log above).")
    if context.params["retention"].get("after_retrain"):
        click.echo("pruning (retention.after_retrain): kedro prune --yes")
        prune = [sys.executable, "-m", "kedro", "prune", "--yes", *(["--env", env] if env else [])]
        if subprocess.run(prune, check=False).returncode:  # noqa: S603
            raise click.ClickException("Pruning failed (see its log above).")
