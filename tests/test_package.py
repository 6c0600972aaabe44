"""The project packaged with `kedro package` runs outside the repository.

The wheel is installed (without its dependencies, which this environment has) into a
folder of its own, and run from another folder with the packaged configuration archive,
in an environment that keeps only one data version: the pipelines follow ``--env`` and
``--conf-source`` there too.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
#: An environment added to the packaged configuration: v1 only, two models, no tuning.
ONE_VERSION = {
    "versions": {"v1": {"filters": {}, "features": []}},
    "models": {"linear": {"class": "sklearn.linear_model.LinearRegression", "params": {}}},
    "tuning": {"versions": []},
}

pytestmark = pytest.mark.slow  # builds a wheel, installs it and runs a pipeline: ~1 min


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    environment.pop("KEDRO_ENV", None)
    result = subprocess.run(
        args,
        cwd=cwd,
        env=environment | env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    """``dist/`` of `kedro package` run in a copy of the project (plus env ``one_version``)."""
    root = tmp_path_factory.mktemp("packaged")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, root)
    shutil.copytree(
        REPO_ROOT / "src",
        root / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    shutil.copytree(REPO_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    (root / "conf" / "one_version").mkdir()
    (root / "conf" / "one_version" / "parameters.yml").write_text(yaml.safe_dump(ONE_VERSION))
    (root / "conf" / "one_version" / "globals.yml").write_text("data_root: data/one_version\n")

    _run([sys.executable, "-m", "kedro", "package"], cwd=root)

    return root / "dist"


def test_the_wheel_runs_outside_the_repository_with_its_conf_archive(packaged, tmp_path):
    (wheel,) = packaged.glob("california_housing-*.whl")
    archive = packaged / "conf-california_housing.tar.gz"
    site = tmp_path / "site"
    _run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", site, wheel],
        cwd=tmp_path,
    )
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    imported = _run(
        [sys.executable, "-c", "import california_housing; print(california_housing.__file__)"],
        cwd=workdir,
        PYTHONPATH=str(site),
    )
    assert imported.stdout.strip().startswith(str(site))

    _run(
        [
            *(sys.executable, "-m", "california_housing"),
            *(f"--conf-source={archive}", "--env=one_version", "--pipelines=data_processing"),
        ],
        cwd=workdir,
        PYTHONPATH=str(site),
    )

    model_input = workdir / "data" / "one_version" / "05_model_input"
    assert sorted(p.name for p in model_input.iterdir()) == [
        "common_holdout_ids.parquet",
        "population_coverage.json",
        "population_test.parquet",
        "v1",
    ]
    assert (workdir / "mlflow.db").is_file()
