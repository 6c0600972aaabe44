"""``kedro serve`` as an operator meets it: who may reach it, and several worker processes."""

from __future__ import annotations

import os
import subprocess

import httpx
import pytest

from california_housing.processes import free_port, stop_group
from tests.serving.conftest import KEDRO, ROW, start_server, wait_ready

pytestmark = pytest.mark.slow

EVERY_ADDRESS = "0.0.0.0"  # noqa: S104 (refused: the service never binds it here)
OPT_IN_WARNING = "Serving without an API key (serving.allow_unauthenticated)"


def test_other_machines_without_an_api_key_are_refused_saying_how_to_set_one(project):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SERVING_")}
    command = [KEDRO, "serve", "--env", "test", "--host", EVERY_ADDRESS, "--port", str(free_port())]
    process = subprocess.Popen(
        command, cwd=project, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        _, errors = process.communicate(timeout=120)
    finally:
        stop_group(process)

    assert process.returncode == 1
    assert f"Refusing to serve on {EVERY_ADDRESS} without an API key" in errors
    assert "SERVING_API_KEY" in errors and "credentials.yml" in errors
    assert "SERVING_ALLOW_UNAUTHENTICATED=true" in errors


def test_workers_share_their_metrics_and_each_start_warns_of_the_opt_in(project, tmp_path):
    opted_in = {"SERVING_ALLOW_UNAUTHENTICATED": "true", "SERVING_API_KEY": ""}
    with start_server(project, tmp_path, extra_env=opted_in, args=("--workers", "2")) as server:
        wait_ready(server)
        requests = 40
        ids = []
        for _ in range(requests):  # a new connection each: the kernel spreads them
            answer = httpx.post(f"{server.url}/predict", json={"rows": [ROW, ROW]}, timeout=30)
            ids.append(answer.json()["predictions"][0]["prediction_id"])
        feedback = httpx.post(
            f"{server.url}/feedback",
            json={"feedback": [{"prediction_id": ids[0], "MedHouseVal": 2.0}]},
            timeout=30,
        )  # no key needed: that is what the opt-in allows
        metrics = httpx.get(f"{server.url}/metrics", timeout=30).text
        output = server.output()

    assert feedback.status_code == 200
    assert output.count(OPT_IN_WARNING) == 2  # one per worker process
    counted = [
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("serving_rows_predicted_total{")
    ]
    assert sum(counted) == 2 * requests  # every worker's rows, whichever answered /metrics
