"""Servers started by the tests and the benchmarks: a free port, started, waited for, stopped.

:func:`started` runs a command in its own process group (so whatever it starts, uvicorn's
workers or a database's children, goes with it), waits until it answers, and stops the whole
group (SIGTERM, then SIGKILL) when the block ends, whether it ended well or not.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path


class ProcessError(RuntimeError):
    """A started process exited, or did not answer in time; the message ends with its output."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_ok(url: str) -> Callable[[], bool]:
    """A readiness check: ``GET url`` answers 200."""

    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 (http://127.0.0.1)
                return answer.status == 200
        except OSError:
            return False

    return check


def stop_group(
    process: subprocess.Popen, first: int = signal.SIGTERM, timeout: float = 60.0
) -> int | None:
    """Stop the process group ``process`` leads: ``first``, then SIGKILL after ``timeout`` s.

    Returns:
        The process's exit status.
    """
    for sig, wait in ((first, timeout), (signal.SIGKILL, 30.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            return process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    return process.poll()


def tail(path: Path, characters: int = 3000) -> str:
    """The end of a log file (empty when there is none)."""
    try:
        return path.read_text(errors="replace")[-characters:]
    except OSError:
        return ""


@contextlib.contextmanager
def started(
    command: Sequence[str | os.PathLike[str]],
    *,
    ready: Callable[[], bool],
    log_path: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 180.0,
    stop_signal: int = signal.SIGTERM,
    **popen: object,
) -> Iterator[subprocess.Popen]:
    """Run ``command`` in its own process group until the block ends.

    Args:
        command: The program and its arguments.
        ready: Called until it returns True (e.g. :func:`http_ok`), then the block runs.
        log_path: File that receives the process's stdout and stderr.
        cwd: Working directory.
        env: Environment (default: this process's).
        timeout: Most seconds to wait for ``ready``.
        stop_signal: Signal that asks it to stop (PostgreSQL: SIGINT, a fast shutdown).
        **popen: More ``subprocess.Popen`` arguments (``user``, ``group``...).

    Yields:
        The process, once ready.

    Raises:
        ProcessError: When it exits before it is ready, or is not ready in time.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 (the caller's own command)
            [str(part) for part in command],
            cwd=cwd,
            env=None if env is None else dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **popen,  # type: ignore[call-overload]
        )
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            if process.poll() is not None:
                raise ProcessError(
                    f"{command[0]} exited with {process.returncode}:\n{tail(log_path)}"
                )
            if time.monotonic() > deadline:
                raise ProcessError(f"{command[0]} was not ready in {timeout:.0f} s:\n"
                                   f"{tail(log_path)}")  # fmt: skip
            time.sleep(0.3)
        yield process
    finally:
        stop_group(process, stop_signal)
