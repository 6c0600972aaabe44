"""The spill file: log rows the database could not take before shutdown, kept for the next start.

One JSON object per line, ``{"kind": <table>, "row": {column: value}}``. Each shutdown that
spills writes a file of its own (``<spill_path>.<ns>``); a starting service claims every file
by renaming it (so two workers starting together never both take one), queues its rows and
deletes it once they are written.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from california_housing.serving.log.tables import TIME_COLUMNS

logger = logging.getLogger(__name__)

#: Rows of one table, as tuples in the order of its columns.
Chunk = tuple[str, list[tuple[Any, ...]]]


def write_spill(path: Path, chunks: Sequence[Chunk], columns: dict[str, Sequence[str]]) -> Path:
    """Write rows to a new spill file next to ``path``.

    Args:
        path: The configured spill path.
        chunks: ``(table, rows)`` pairs, in the order they were submitted.
        columns: Column names of each table.

    Returns:
        The file written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    target = path.with_name(f"{path.name}.{time.time_ns()}")
    with target.open("xb") as handle:
        for kind, rows in chunks:
            for row in rows:
                item = {"kind": kind, "row": dict(zip(columns[kind], row, strict=True))}
                handle.write(orjson.dumps(item) + b"\n")
    return target


def claim_spills(path: Path) -> list[Path]:
    """Claim the spill files left by earlier runs (renamed for this process), oldest first."""
    if not path.parent.is_dir():
        return []
    found = [path, *path.parent.glob(f"{path.name}.*")]
    claimed = []
    for spilled in sorted(p for p in found if p.is_file()):
        mine = spilled.with_name(f"{spilled.name}.{os.getpid()}")
        try:
            spilled.rename(mine)
        except FileNotFoundError:  # another worker claimed it
            continue
        claimed.append(mine)
    return claimed


def read_spill(path: Path, columns: dict[str, Sequence[str]]) -> Iterator[Chunk]:
    """The rows of a claimed spill file, one ``(table, [row])`` per line."""
    with path.open("rb") as handle:
        for line in handle:
            if not line.strip():
                continue
            item = orjson.loads(line)
            kind, values = item["kind"], item["row"]
            at = TIME_COLUMNS[kind]
            values[at] = datetime.fromisoformat(values[at])
            yield kind, [tuple(values.get(c) for c in columns[kind])]
