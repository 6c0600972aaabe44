"""Session-wide setup shared by every test: quiet telemetry, raw frames, project copies.

Two kinds of raw frame:

- ``generated_raw`` / ``small_raw``: rows generated with the real schema (same columns,
  dtypes and plausible ranges; no download, no cache). Unit and pipeline tests use these.
- ``raw_frame``: the real 20,640 rows (needs the data or ``SCIKIT_LEARN_DATA``), for the
  tests of the raw-data dataset itself.

End-to-end, notebook and multi-process tests are marked ``slow``; the ``project`` fixture
(a full ``kedro run --env test`` in a copy of the project) is for those only.

MLflow, Kedro and the project are imported inside the fixtures and helpers that use them,
not at the top: under ``pytest -n 2`` pytest-xdist's controller loads this file too, and
only then starts its two workers, which import everything again. Imported here, they
would delay both workers by the ~4 s the imports take.
"""

import gc
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

for _name in ("KEDRO_DISABLE_TELEMETRY", "DO_NOT_TRACK", "MLFLOW_DISABLE_TELEMETRY"):
    os.environ.setdefault(_name, "true")

_SHARED_CACHE = REPO_ROOT.parent / "shared" / "data" / "scikit_learn_data"
if "SCIKIT_LEARN_DATA" not in os.environ and _SHARED_CACHE.is_dir():
    os.environ["SCIKIT_LEARN_DATA"] = str(_SHARED_CACHE)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Leave what collection imported out of Python's garbage collections from now on.

    Collection imports MLflow, Kedro, pandas, scikit-learn and the rest: most of the ~1M
    objects the session holds, and all of them live until the process ends. Each full
    collection walks every object, and the quick tier triggers about 16 of them, plus
    several more while the interpreter exits. ``gc.freeze()`` moves the objects alive
    now to a generation that no collection walks; objects the tests create are still
    collected as before. ``python -m benchmarks quick_tests`` measures the tier.
    """
    gc.freeze()


@pytest.fixture(autouse=True)
def _environment_restored():
    """Each test leaves the environment variables as it found them.

    Code run in-process sets variables for its child processes: Kedro's
    ``bootstrap_project`` puts ``src/`` on ``PYTHONPATH``, MLflow's ``set_tracking_uri``
    and ``set_experiment`` set ``MLFLOW_TRACKING_URI`` and ``MLFLOW_EXPERIMENT_ID``. Left
    behind, they reach later tests' child processes (a virtualenv without the project
    could then import it, or MLflow a deleted store). Session-scoped fixtures set up before
    this one: :func:`run_project` restores them itself.
    """
    with environment_kept():
        yield


@contextmanager
def environment_kept() -> Iterator[None]:
    """Put ``os.environ`` back as it was when the block started."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(autouse=True)
def _structure_from_the_working_directory():
    """Each test starts with structure reading the project around the working directory.

    A session created by a test (or a ProjectConfigLoader) binds its configuration to
    ``california_housing.structure``; this unbinds it after the test.
    """
    yield
    from california_housing import structure

    structure.read_from(None)


@pytest.fixture(scope="session")
def mlflow_template(request, tmp_path_factory):
    """One empty, migrated MLflow SQLite database: copy it, never write to it
    (``tests.mlflow_store.store`` does both).

    Migrating one takes seconds, so it is kept in pytest's cache, one per MLflow version
    (or made once per session under ``-p no:cacheprovider``).
    """
    import mlflow

    from tests.mlflow_store import migrated_template

    cache = getattr(request.config, "cache", None)
    if cache is None:
        return migrated_template(tmp_path_factory.mktemp("mlflow_template"))
    template = cache.mkdir(f"mlflow-template-{mlflow.__version__}") / "mlflow.db"
    if not template.exists():  # made aside, then moved: an interrupted run leaves none
        os.replace(migrated_template(tmp_path_factory.mktemp("mlflow_template")), template)
    return template


@pytest.fixture
def tracking_store(mlflow_template, tmp_path):
    """MLflow pointed at a fresh copy of the migrated store in ``tmp_path`` (yielded)."""
    from tests.mlflow_store import copied_store

    with copied_store(mlflow_template, tmp_path) as folder:
        yield folder


@pytest.fixture
def experiment_id(mlflow_template, tmp_path):
    """An experiment in a fresh copy of the migrated store (``tests.mlflow_store.store``)."""
    from tests.mlflow_store import store

    with store(mlflow_template, tmp_path) as experiment_id:
        yield experiment_id


@pytest.fixture(scope="session")
def raw_frame():
    """The real California Housing frame (20,640 x 9). Shared: copy before changing it."""
    from california_housing.datasets import CaliforniaHousingDataset

    return CaliforniaHousingDataset().load()


@pytest.fixture(scope="session")
def generated_raw():
    """2,000 generated rows with the real raw schema. Shared: copy before changing it.

    About half of them pass the v2/v3 filters (``MedHouseVal <= 5.0``, ``Longitude <
    -119.0``), so every configured version has train and test rows.
    """
    from california_housing.datasets.california_housing_dataset import (
        synthetic_california_housing,
    )

    return synthetic_california_housing(rows=2_000, seed=0)


@pytest.fixture
def small_raw(generated_raw):
    """The first 200 generated rows, a private copy each test may change."""
    return generated_raw.head(200).copy()


def run_project(
    project: Path, pipelines: list[str] | None = None, env: str = "test", **kwargs
) -> None:
    """`kedro run --env <env> [--pipelines ...]` from inside ``project``.

    The working directory, the environment variables (see :func:`_environment_restored`;
    the session's ``project`` fixture runs outside it) and MLflow's tracking URI are
    restored afterwards. kedro-mlflow also leaves the run's experiment as MLflow's active
    one in this process, which MLflow offers no public way to unset: so tests start their
    runs with ``experiment_id=`` (see ``tests.mlflow_store.store``).
    """
    import mlflow
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    previous_cwd, previous_uri = Path.cwd(), mlflow.get_tracking_uri()
    with environment_kept():  # last: set_tracking_uri sets MLFLOW_TRACKING_URI too
        os.chdir(project)
        try:
            bootstrap_project(project)
            with KedroSession.create(project_path=project, env=env, **kwargs) as session:
                session.run(pipeline_names=pipelines)
        finally:
            os.chdir(previous_cwd)
            mlflow.set_tracking_uri(previous_uri)


def kedro_cli(
    root: Path, *args: str, check: bool = True, timeout: float = 600, **env: str
) -> subprocess.CompletedProcess:
    """``kedro <args>`` run as a user runs it, in ``root``: a new process, no ``KEDRO_ENV``.

    Args:
        root: The project (usually a :func:`copy_project`).
        *args: Arguments after ``kedro``.
        check: Fail the test, with the end of the output, if the command exits non-zero.
        timeout: Seconds before the command is killed.
        **env: Extra environment variables.

    Returns:
        The finished process, with its stdout and stderr as text.
    """
    environment = os.environ | {"KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"} | env
    environment.pop("KEDRO_ENV", None)
    done = subprocess.run(
        [sys.executable, "-m", "kedro", *args],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode:
        output = (done.stdout + done.stderr)[-4000:]
        pytest.fail(f"kedro {shlex.join(args)} exited {done.returncode}:\n{output}")
    return done


def copy_project(root: Path) -> Path:
    """Copy the project into ``root``, a new git repository with one commit.

    conf/ (without conf/local), pyproject.toml, the example rows and (a link to) the
    package are copied, so whatever a run writes (data, the SQLite MLflow store, the
    Optuna storage, viz builds) lands in ``root`` and runs carry a real commit.

    Returns:
        ``root``.
    """
    shutil.copytree(REPO_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    shutil.copy(REPO_ROOT / "pyproject.toml", root)
    (root / "src").mkdir()
    package = REPO_ROOT / "src" / "california_housing"
    (root / "src" / "california_housing").symlink_to(package, target_is_directory=True)
    shutil.copytree(
        REPO_ROOT / "data" / "01_raw" / "examples", root / "data" / "01_raw" / "examples"
    )
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "."], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "snapshot"], cwd=root, check=True)
    return root


@pytest.fixture(scope="session")
def project(tmp_path_factory):
    """A copy of the project (:func:`copy_project`), run once with `kedro run --env test`.

    Only for tests marked ``slow``: the run takes a minute.
    """
    root = copy_project(tmp_path_factory.mktemp("project"))
    run_project(root)
    return root


@pytest.fixture(scope="session")
def project_image():
    """The project's image, built once per session and removed at its end (tests/containers.py).

    Only for tests marked ``container``.
    """
    from tests.containers import built_image

    with built_image() as tag:
        yield tag
