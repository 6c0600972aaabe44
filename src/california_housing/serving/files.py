"""Reading the files the pipelines write (reports, decisions) for the service's answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _no_constant(_name: str) -> None:
    """NaN and Infinity in a JSON file become ``null`` (a JSON answer cannot carry them)."""
    return None


def read_json(path: Path) -> Any:
    """A JSON file, NaN and Infinity read as ``None``; raises OSError or ValueError."""
    return json.loads(path.read_text(), parse_constant=_no_constant)


def modified(path: Path) -> str:
    """When ``path`` was last written (UTC, ISO 8601, seconds)."""
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")


def shown(path: Path | None, entry: str) -> str:
    """``path`` as a user of the project knows it: relative to the project, else the entry.

    Args:
        path: A file the catalog places.
        entry: The catalog entry that places it, named instead of a path outside the
            project (a machine's path is not shown).

    Returns:
        The relative path, or ``the catalog's `<entry>` file``.
    """
    if path is not None:
        try:
            return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
        except ValueError:
            pass
    return f"the catalog's `{entry}` file"


def env_option(env: str | None) -> str:
    """`` --env ENV`` for the commands a hint suggests (empty for the default environment)."""
    return f" --env {env}" if env else ""
