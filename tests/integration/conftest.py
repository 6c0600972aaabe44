"""Real servers for the `team` environment: a throwaway PostgreSQL cluster and an MLflow
tracking server on it, both on 127.0.0.1, each in its own process group that teardown
kills even when a test fails.

PostgreSQL refuses to run as root: the cluster is created and started as an unprivileged
user (``postgres`` when the Debian package made it, else ``nobody``) in a temporary folder
that user owns. The tests need ``initdb`` and ``postgres`` (on PATH, or Debian's
``/usr/lib/postgresql/<version>/bin``): without them they are skipped, except in CI
(``CI`` set), where that is an error (``.ci/run`` installs PostgreSQL).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from california_housing.processes import free_port, http_ok, started, stop_group

REPO_ROOT = Path(__file__).resolve().parents[2]
MLFLOW = Path(sys.executable).with_name("mlflow")


def postgres_bin() -> Path | None:
    """The folder of PostgreSQL's server programs, or None when it is not installed."""
    initdb = shutil.which("initdb")
    if initdb is not None:
        folder = Path(initdb).resolve().parent
        if (folder / "postgres").is_file():
            return folder
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@dataclass
class Postgres:
    """A running throwaway cluster: superuser ``postgres``, no password (trust, loopback)."""

    port: int
    bin: Path
    user: str

    def url(self, database: str) -> str:
        """SQLAlchemy URL of ``database`` (psycopg 3 driver)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create ``name`` and return its URL."""
        import psycopg  # noqa: PLC0415

        dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL cluster in a temp folder, listening on 127.0.0.1 only, for the session."""
    folder = postgres_bin()
    if folder is None:
        message = "PostgreSQL server programs (initdb, postgres) not found"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; .ci/run installs the Debian package postgresql")
        pytest.skip(f"{message}: apt-get install postgresql")
    if os.geteuid() == 0:  # PostgreSQL refuses root: an unprivileged user runs it
        account = pwd.getpwnam("postgres" if _user_exists("postgres") else "nobody")
    else:
        account = pwd.getpwuid(os.geteuid())
    user = account.pw_name
    root = Path(tempfile.mkdtemp(prefix="california-housing-pg-"))
    os.chown(root, account.pw_uid, account.pw_gid)
    data, log = root / "data", root / "postgres.log"
    as_user: dict = {"cwd": root}
    if os.geteuid() == 0:
        as_user |= {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    env = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8", "HOME": str(root)}
    port = free_port()
    try:
        subprocess.run(
            [folder / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E",
             "UTF8"],
            check=True, capture_output=True, env=env, **as_user,
        )  # fmt: skip
        log.touch()
        os.chown(log, account.pw_uid, account.pw_gid)
        server = Postgres(port, folder, user)
        with started(
            [folder / "postgres", "-D", data, "-p", str(port),
             "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
             "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "max_connections=100"],
            ready=lambda: _can_connect(server), log_path=log, env=env, timeout=60,
            stop_signal=signal.SIGINT,  # PostgreSQL's fast shutdown
            **as_user,
        ):  # fmt: skip
            yield server
    finally:
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class MlflowServer:
    """A running ``mlflow server``: its URL and where its artifacts land."""

    url: str
    artifacts: Path


@pytest.fixture(scope="session")
def mlflow_server(postgres: Postgres) -> Iterator[MlflowServer]:
    """``mlflow server`` on a PostgreSQL backend store, proxying a local artifact folder."""
    backend = postgres.create_database("mlflow")
    root = Path(tempfile.mkdtemp(prefix="california-housing-mlflow-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    try:
        with started(
            [MLFLOW, "server", "--backend-store-uri", backend,
             "--artifacts-destination", (root / "artifacts").as_uri(), "--serve-artifacts",
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            ready=http_ok(f"{url}/health"), log_path=root / "server.log", cwd=root,
            env=os.environ | {"MLFLOW_DISABLE_TELEMETRY": "true"},
        ):  # fmt: skip
            yield MlflowServer(url, root / "artifacts")
    finally:
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class TeamProject:
    """A copy of the project set up for ``--env team`` against the test servers."""

    root: Path
    env: dict[str, str]
    experiment: str
    model_name: str
    storage: str

    def kedro(self, *args: str, **popen) -> subprocess.Popen:
        """Start ``kedro run --env team <args>`` in the copy (stdout+stderr to ``popen``)."""
        return subprocess.Popen(
            [Path(sys.executable).with_name("kedro"), "run", "--env", "team", *args],
            cwd=self.root,
            env=self.env,
            start_new_session=True,
            **popen,
        )

    def run(self, *args: str, timeout: float = 600) -> str:
        """Run ``kedro run --env team <args>`` to the end; its output (fails if it fails)."""
        process = self.kedro(*args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            output, _ = process.communicate(timeout=timeout)
        finally:
            stop_group(process)
        assert process.returncode == 0, output[-5000:]
        return output


@pytest.fixture
def team_project(
    request, tmp_path: Path, postgres: Postgres, mlflow_server: MlflowServer
) -> TeamProject:
    """The project with conf/team, sized like conf/test, on the session's servers.

    The copy's conf/team is the committed one plus conf/test's parameters (test-sized
    models, tuning and data) and a globals.yml naming an experiment and a registered model
    of the test's own, so tests sharing the tracking server do not see each other's runs.
    Each test gets its own Optuna database. Credentials come from the environment, as in
    a user's shell: ``OPTUNA_STORAGE`` and ``MLFLOW_TRACKING_URI``.
    """
    root = tmp_path / "project"
    shutil.copytree(REPO_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    shutil.copy(REPO_ROOT / "pyproject.toml", root)
    (root / "src").mkdir()
    (root / "src" / "california_housing").symlink_to(
        REPO_ROOT / "src" / "california_housing", target_is_directory=True
    )
    shutil.copytree(REPO_ROOT / "data" / "01_raw", root / "data" / "01_raw")
    team = root / "conf" / "team"
    for parameters in (REPO_ROOT / "conf" / "test").glob("parameters*.yml"):
        shutil.copy(parameters, team)
    name = "it-" + request.node.name.removeprefix("test_").replace("_", "-")[:40]
    globals_ = yaml.safe_load((REPO_ROOT / "conf" / "base" / "globals.yml").read_text())
    globals_ |= {"data_root": "data", "mlflow_experiment": name, "registered_model_name": name}
    (team / "globals.yml").write_text(yaml.safe_dump(globals_))
    storage = postgres.create_database(name.replace("-", "_"))
    env = os.environ | {
        "OPTUNA_STORAGE": storage,
        "MLFLOW_TRACKING_URI": mlflow_server.url,
        "KEDRO_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PYTHONUNBUFFERED": "1",  # progress lines reach the logs as they are written
    }
    env.pop("KEDRO_ENV", None)
    return TeamProject(root, env, name, name, storage)


def set_heartbeat(project: TeamProject, interval: int, grace: int) -> None:
    """Shorten the study's heartbeat in the copy's conf/team/catalog.yml (for a kill test)."""
    catalog = project.root / "conf" / "team" / "catalog.yml"
    entries = yaml.safe_load(catalog.read_text())
    for entry in entries.values():
        if str(entry.get("type", "")).endswith("OptunaStudyDataset"):
            entry |= {"heartbeat_interval": interval, "grace_period": grace}
    catalog.write_text(yaml.safe_dump(entries))


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _can_connect(server: Postgres) -> bool:
    import psycopg  # noqa: PLC0415

    try:
        psycopg.connect(f"postgresql://postgres@127.0.0.1:{server.port}/postgres").close()
    except psycopg.OperationalError:
        return False
    return True
