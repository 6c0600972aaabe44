"""The project installs from wheels on every platform and Python it supports.

There are no Mac or Windows machines here, so uv resolves for them:
``uv pip compile --python-platform TARGET --python-version X.Y --only-binary :all:`` evaluates
environment markers for the target (``pip install --dry-run --platform`` evaluates them for the
machine it runs on, so it cannot answer this) and finds a wheel for every package, or fails
naming the one without. Resolving needs PyPI (or the index uv is configured with); the targets
resolve in parallel threads, as the work is waiting on the index.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader

from california_housing import settings

REPO_ROOT = Path(__file__).resolve().parents[1]
UV = str(Path(sys.executable).with_name("uv"))
PLATFORMS = {
    "linux-x86_64": "x86_64-unknown-linux-gnu",
    "linux-aarch64": "aarch64-unknown-linux-gnu",
    "macos-arm64": "aarch64-apple-darwin",
    "macos-x86_64": "x86_64-apple-darwin",
    "windows-x86_64": "x86_64-pc-windows-msvc",
}
PYTHONS = ("3.11", "3.12", "3.13")  # uv takes each at its first release: 3.11.0, ...
TARGETS = [(platform, python) for platform in PLATFORMS for python in PYTHONS]

pytestmark = pytest.mark.slow  # 17 uv resolutions against the package index


def compile_for(requirements: Path, platform: str, python: str, *extra: str) -> str:
    """Resolve ``requirements`` (and ``extra`` arguments of uv) for a target, wheels only.

    Returns:
        "" when it resolves, else uv's explanation.
    """
    done = subprocess.run(
        [UV, "pip", "compile", str(requirements), "--python-platform", PLATFORMS[platform],
         "--python-version", python, "--only-binary", ":all:", "--no-header", "--quiet",
         *extra],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    return "" if done.returncode == 0 else done.stderr.strip() or f"exit {done.returncode}"


@pytest.fixture(scope="module")
def model_requirements(tmp_path_factory) -> Path:
    """The registered model's pip requirements, as the catalog gives them, in a file."""
    catalog = OmegaConfigLoader(str(REPO_ROOT / "conf"), env="test", **settings.CONFIG_LOADER_ARGS)[
        "catalog"
    ]
    requirements = catalog["champion"]["save_args"]["pip_requirements"]
    assert requirements == catalog["registered_champion"]["save_args"]["pip_requirements"]
    path = tmp_path_factory.mktemp("model") / "requirements.txt"
    path.write_text("\n".join(requirements) + "\n")
    return path


@pytest.fixture(scope="module")
def resolutions(model_requirements) -> dict[tuple[str, str], str]:
    """Each target's resolution of pyproject.toml's dependencies with every extra, together
    with the registered model's requirements (what `pip install -e ".[dev]"` and a virtualenv
    for the model install): one resolution per target, as each costs seconds of index reads.
    """
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = pool.map(
            lambda target: compile_for(
                REPO_ROOT / "pyproject.toml", *target, str(model_requirements), "--all-extras"
            ),
            TARGETS,
        )
        return dict(zip(TARGETS, results, strict=True))


@pytest.mark.parametrize(("platform", "python"), TARGETS)
def test_project_extras_and_model_install_from_wheels(resolutions, platform, python):
    assert resolutions[platform, python] == ""


def test_model_requirements_pin_one_xgboost_build_per_platform(model_requirements):
    lines = model_requirements.read_text().splitlines()
    xgboost = [line for line in lines if line.startswith("xgboost")]
    # the same version for both builds, each where it has wheels
    version = xgboost[0].split("==")[1].split(";")[0]
    assert xgboost == [
        f'xgboost-cpu=={version}; sys_platform != "darwin"',
        f'xgboost=={version}; sys_platform == "darwin"',
    ]
    assert all("==" in line for line in lines)


def test_the_check_fails_for_a_build_that_has_no_wheel_there(tmp_path):
    # what pyproject.toml required before: xgboost-cpu everywhere (no macOS wheels)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("xgboost-cpu>=3.2,<3.3\n")
    assert compile_for(requirements, "linux-x86_64", "3.11") == ""
    error = compile_for(requirements, "macos-arm64", "3.11")
    assert "xgboost-cpu" in error
    assert "unsatisfiable" in error
