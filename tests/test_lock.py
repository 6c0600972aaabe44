"""uv.lock: current with pyproject.toml, and the one uv version the project's tools use.

``.ci/run`` refuses a stale lock with ``uv lock --check``; here that check is shown to pass on
the committed files and to fail once pyproject.toml changes (on a copy).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
UV = str(Path(sys.executable).with_name("uv"))


def lock_check(project: Path) -> subprocess.CompletedProcess:
    """``uv lock --check`` in ``project``."""
    return subprocess.run(
        [UV, "lock", "--check"], cwd=project, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """pyproject.toml, uv.lock and README.md (the package's readme) in a folder of their own."""
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    return tmp_path


@pytest.mark.slow  # uv may ask the package index
def test_the_lock_is_current_and_a_changed_pyproject_makes_it_stale(project_copy: Path) -> None:
    assert lock_check(project_copy).returncode == 0

    pyproject = project_copy / "pyproject.toml"
    text = pyproject.read_text()
    changed = text.replace('"joblib>=1.6,<2"', '"joblib>=1.5,<2"')
    assert changed != text
    pyproject.write_text(changed)
    stale = lock_check(project_copy)

    assert stale.returncode != 0
    assert "needs to be updated" in stale.stderr


def test_the_dockerfile_and_ci_use_the_uv_that_the_lock_pins() -> None:
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    locked = {p["name"]: p["version"] for p in lock["package"]}["uv"]
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert re.search(rf"^ARG UV_VERSION={re.escape(locked)}$", dockerfile, re.MULTILINE)
    # .ci/run, the workflow and docker/wheelhouse.sh read it from the Dockerfile
    for path in (".ci/run", ".github/workflows/ci.yml", "docker/wheelhouse.sh"):
        assert "s/^ARG UV_VERSION=//p' Dockerfile" in (REPO_ROOT / path).read_text(), path
