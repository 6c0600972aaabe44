"""The project's image for the tests marked ``container``: podman, and one build per session.

``project_image`` (tests/conftest.py) builds the image once from a wheelhouse
(``docker/wheelhouse.sh wheelhouse postgres``: the build has no network), with the ``postgres``
extra that the compose stack needs, and removes it at the end of the session, whatever the
outcome; the build stages' cached layers stay as podman's build cache (``podman image prune``
removes them). The build's wall time is printed (``pytest -s`` shows it).
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BUILD_TIMEOUT = 30 * 60  # a cold build takes minutes on 2 busy cores
IMAGE_EXTRAS = "postgres"


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``podman ARGS``; on failure the error shows podman's own output."""
    result = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"podman {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


@contextmanager
def built_image() -> Iterator[str]:
    """Build the project's image from a wheelhouse; yield its tag; remove it afterwards."""
    subprocess.run(
        [str(REPO_ROOT / "docker" / "wheelhouse.sh"), "wheelhouse", IMAGE_EXTRAS],
        cwd=REPO_ROOT, check=True,
    )  # fmt: skip
    tag = f"localhost/california-housing:test-{uuid.uuid4().hex[:10]}"
    start = time.monotonic()
    try:
        podman(
            "build", "--pull=missing", "--format", "docker",
            "--build-arg", "WHEELHOUSE=wheelhouse", "--build-arg", f"EXTRAS={IMAGE_EXTRAS}",
            "--tag", tag, str(REPO_ROOT),
            timeout=BUILD_TIMEOUT,
        )  # fmt: skip
        size = podman("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip()
        print(f"\nimage {tag}: built in {time.monotonic() - start:.0f} s, {int(size) / 1e6:.0f} MB")
        yield tag
    finally:
        podman("rmi", "--force", tag, check=False)
