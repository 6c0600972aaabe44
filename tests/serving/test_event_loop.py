"""``kedro serve`` uses uvloop and httptools where installed, and serves without them.

uvloop publishes no Windows build. Here both are installed, so their absence is made real for
one server: a folder on its ``PYTHONPATH`` holds packages of those names whose import fails, as
an import of a package that is not installed does. Which ones a server loaded is read from its
memory map (/proc, Linux).
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from tests.serving.conftest import ROW, Server, start_server, wait_ready

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/maps"),
]
FAST_PARTS = ("uvloop", "httptools")


def loaded(server: Server) -> set[str]:
    """Which of uvloop and httptools the server process has loaded."""
    maps = Path(f"/proc/{server.process.pid}/maps").read_text()
    return {name for name in FAST_PARTS if f"/{name}/" in maps}


def test_served_with_uvloop_and_httptools_where_installed(served):
    assert loaded(served) == set(FAST_PARTS)


def test_serves_on_asyncio_and_h11_without_them(project, tmp_path):
    missing = tmp_path / "missing"
    for name in FAST_PARTS:
        (missing / name).mkdir(parents=True)
        (missing / name / "__init__.py").write_text(
            f"raise ModuleNotFoundError({f'No module named {name!r}'!r}, name={name!r})\n"
        )
    with start_server(project, tmp_path, extra_env={"PYTHONPATH": str(missing)}) as server:
        wait_ready(server)
        answer = httpx.post(f"{server.url}/predict", json={"rows": [ROW]}, timeout=30)

        assert answer.status_code == 200, answer.text
        assert len(answer.json()["predictions"]) == 1
        assert loaded(server) == set()
