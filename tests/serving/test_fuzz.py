"""Schemathesis against the live OpenAPI schema of a real ``kedro serve``: zero 5xx.

Every operation of the schema gets generated requests, valid ones (positive mode) and
invalid ones (negative mode: wrong types, out-of-range numbers, missing or extra fields,
bad query strings), sent with the API key so that ``/feedback`` and ``/reload`` get past
authentication. Hypothesis drives schemathesis' strategies directly (its pytest plugin
does not support this pytest version).
"""

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.serving.conftest import API_KEY

pytestmark = pytest.mark.slow

CASES = 150  # per operation and mode; /predict, /feedback, /predictions, /reload take input


def _fuzz(operation, mode, calls: list, failures: list) -> None:
    """Send CASES generated requests of ``mode`` to ``operation``, recording each answer."""

    @settings(
        max_examples=CASES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode))
    def call(case):
        response = case.call(headers={"X-API-Key": API_KEY}, timeout=30)
        calls.append((operation.label, mode.value, response.status_code))
        if response.status_code >= 500 or "Traceback" in response.text:
            failures.append(f"{case.method} {case.path} {case.body!r:.300}: "
                            f"{response.status_code} {response.text[:300]}")  # fmt: skip

    try:
        call()
    except Unsatisfiable:  # no invalid input exists (an operation without parameters)
        assert mode is GenerationMode.NEGATIVE


def test_a_thousand_generated_requests_get_no_server_error(served):
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    calls: list[tuple[str, str, int]] = []
    failures: list[str] = []
    for result in schema.get_all_operations():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(result.ok(), mode, calls, failures)

    statuses = Counter(status for _, _, status in calls)
    assert not failures, failures[:5]
    assert len(calls) >= 1000, len(calls)
    assert {label for label, _, _ in calls} >= {
        "POST /predict", "POST /feedback", "GET /predictions", "POST /reload", "GET /model",
    }  # fmt: skip
    assert statuses[200] > 0
    assert statuses[422] > 0
