"""MkDocs hook: the benchmark page's tables, rendered from the saved results at build time.

``docs/benchmarks.md`` holds a marker per target (``<!-- benchmark: <target> -->``); this hook
replaces each with the tables of ``benchmarks/results/<target>.json`` (see
:mod:`benchmarks.render`). A result that does not have its target's shape fails the build.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # MkDocs loads hooks by path; benchmarks/ is a root package
    sys.path.insert(0, str(ROOT))

from benchmarks.render import render_page  # noqa: E402

PAGE = "benchmarks.md"


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """Render the benchmark markers of the benchmark page; other pages pass unchanged.

    Args:
        markdown: The page's Markdown source.
        page: The MkDocs page being built.
        **kwargs: The rest of MkDocs' hook arguments (config, files), unused.

    Returns:
        The Markdown with each marker replaced by its target's tables.

    Raises:
        PluginError: If a marker names an unknown target or a result has the wrong shape.
    """
    if page.file.src_uri != PAGE:
        return markdown
    try:
        return render_page(markdown)
    except ValueError as exc:
        raise PluginError(f"{PAGE}: {exc}") from exc
