"""Where saved benchmark results live, and what each one records about its measurement.

``python -m benchmarks <target> --save`` writes the JSON it prints to
``benchmarks/results/<target>.json``; the docs' benchmark page renders those files at build
time (:mod:`benchmarks.render`), so the page always shows what the files hold.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.harness import PROJECT

RESULTS = Path(__file__).with_name("results")


def provenance() -> dict[str, Any]:
    """When the measurement started and which commit of the project it measured.

    Returns:
        ``measured_at`` (UTC, ISO 8601, to the second), ``git_commit`` (short hash, or None
        outside a git checkout) and ``git_dirty`` (tracked files differ from that commit).
    """
    found = {"measured_at": datetime.now(UTC).isoformat(timespec="seconds")}
    try:
        commit = subprocess.run(
            ["git", "log", "-1", "--format=%h"],
            cwd=PROJECT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=PROJECT, check=False)
    except (OSError, subprocess.CalledProcessError):
        return found | {"git_commit": None, "git_dirty": None}
    return found | {"git_commit": commit or None, "git_dirty": dirty.returncode != 0}


def result_path(target: str, folder: Path | None = None) -> Path:
    """The file a target's saved result lives in (in ``folder``, default :data:`RESULTS`)."""
    return (folder or RESULTS) / f"{target}.json"


def save_result(result: dict[str, Any], folder: Path | None = None) -> Path:
    """Write one benchmark's JSON result as its target's saved result.

    Args:
        result: What ``python -m benchmarks`` printed; its ``target`` names the file.
        folder: Where results are kept (default :data:`RESULTS`).

    Returns:
        The file written.
    """
    path = result_path(result["target"], folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return path


def load_result(target: str, folder: Path | None = None) -> dict[str, Any] | None:
    """A target's saved result, or None when it has none.

    Raises:
        ValueError: If the file is not a JSON object of that target.
    """
    path = result_path(target, folder)
    if not path.is_file():
        return None
    result = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(result, dict) or result.get("target") != target:
        raise ValueError(f"{path} does not hold a result of target {target!r}")
    return result
