"""The helper that starts servers for tests and benchmarks: ready, stopped, never left behind."""

import os
import signal
import socket
import sys
import time

import pytest

from california_housing.processes import ProcessError, free_port, http_ok, started

# A server that also starts a child of its own: both must go when the block ends.
SERVER = """
import http.server, subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print("child", child.pid, flush=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler
                       ).serve_forever()
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _child_pid(log_path) -> int:
    deadline = time.monotonic() + 10
    while "child" not in log_path.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return int(log_path.read_text().split()[1])


def test_free_port_can_be_bound():
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_a_started_server_answers_then_its_whole_group_is_stopped(tmp_path):
    port, log_path = free_port(), tmp_path / "server.log"
    url = f"http://127.0.0.1:{port}/"

    with started(
        [sys.executable, "-c", SERVER, str(port)], ready=http_ok(url), log_path=log_path
    ) as process:
        assert http_ok(url)()
        child = _child_pid(log_path)

    assert process.returncode == -signal.SIGTERM
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:  # reaped by init once killed
        time.sleep(0.05)
    assert not _alive(child)
    assert not http_ok(url)()


def test_the_group_is_stopped_when_the_block_fails(tmp_path):
    port, log_path = free_port(), tmp_path / "server.log"
    command = [sys.executable, "-c", SERVER, str(port)]

    with (
        pytest.raises(KeyError),
        started(command, ready=http_ok(f"http://127.0.0.1:{port}/"), log_path=log_path) as process,
    ):
        raise KeyError("the test failed")

    assert process.poll() is not None


def test_a_process_that_exits_is_an_error_with_its_output(tmp_path):
    command = [sys.executable, "-c", "import sys; print('no config'); sys.exit(3)"]

    with pytest.raises(ProcessError, match=r"(?s)exited with 3.*no config"):
        with started(command, ready=lambda: False, log_path=tmp_path / "out.log"):
            pass


def test_a_process_that_never_gets_ready_is_stopped(tmp_path):
    log_path = tmp_path / "out.log"
    command = [
        sys.executable,
        "-c",
        "import os, time; print(os.getpid(), flush=True); time.sleep(600)",
    ]

    with pytest.raises(ProcessError, match="not ready in 1 s"):
        with started(command, ready=lambda: False, log_path=log_path, timeout=1):
            pass

    assert not _alive(int(log_path.read_text().split()[0]))
