"""The README stays a front door, and its links and the docs site's pages hold together.

``mkdocs build --strict`` (in ``.ci/run``) checks the links between docs pages; these quick
tests check what it does not see: the README's size, that every relative link of the README
reaches a file of the repository (and, for a Markdown page, a heading of it, spelled as
GitHub spells anchors), and that every page of ``docs/`` is in the site's navigation.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_LIMIT_BYTES = 15 * 1024

_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def _links(markdown: str) -> list[str]:
    """Targets of the Markdown links and images outside code blocks."""
    return _LINK.findall(_FENCE.sub("", markdown))


def _anchor(heading: str) -> str:
    """A heading's anchor as GitHub (and MkDocs' toc, for these headings) spells it."""
    text = re.sub(r"[`*_]{1,2}([^`*]+?)[`*_]{1,2}", r"\1", heading.strip()).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*#*$", _FENCE.sub("", page.read_text()), re.MULTILINE)
    return {_anchor(h) for h in headings}


def _relative(target: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", target) and not target.startswith("#")


def test_the_readme_is_at_most_15_kb():
    size = len(README.read_bytes())
    assert size <= README_LIMIT_BYTES, f"README.md is {size} bytes; move detail into docs/"


def test_every_relative_link_of_the_readme_resolves():
    links = [t for t in _links(README.read_text()) if _relative(t)]
    assert links, "the README links into the docs"
    broken = []
    for target in links:
        path, _, fragment = target.partition("#")
        file = (README.parent / path).resolve()
        if not file.exists():
            broken.append(f"{target}: no file {path}")
        elif fragment and file.suffix == ".md" and fragment not in _anchors(file):
            broken.append(f"{target}: no heading #{fragment} in {path}")
    assert not broken, "\n".join(broken)


def test_every_docs_page_is_linked_from_the_readme():
    linked = {
        (README.parent / t.partition("#")[0]).resolve()
        for t in _links(README.read_text())
        if _relative(t)
    }
    pages = {page.resolve() for page in DOCS.glob("*.md")}
    assert pages - linked == set()


def _nav_pages(nav: list) -> list[str]:
    pages = []
    for entry in nav:
        for value in entry.values() if isinstance(entry, dict) else [entry]:
            pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def test_the_site_navigation_lists_every_page_once():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    nav = _nav_pages(config["nav"])
    assert len(nav) == len(set(nav))
    assert set(nav) == {page.name for page in DOCS.glob("*.md")}


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Retraining's data rules", "retrainings-data-rules"),
        ("`kedro traffic`", "kedro-traffic"),
        ("Compose: a team's stack", "compose-a-teams-stack"),
        ("quick_tests", "quick_tests"),
    ],
)
def test_anchors_are_spelled_as_github_spells_them(heading, anchor):
    assert _anchor(heading) == anchor


def test_links_are_read_outside_code_blocks_and_headings_become_anchors(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## A `code` section\n\n```\n# not a heading\n```\n")
    assert _anchors(page) == {"title", "a-code-section"}
    text = "[ok](page.md#a-section) [web](https://x.org)\n```\n[in code](nowhere.md)\n```\n"
    assert [t for t in _links(text) if _relative(t)] == ["page.md#a-section"]
