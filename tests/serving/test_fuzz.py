"""Schemathesis against the live OpenAPI schema of a real ``kedro serve``: zero 5xx.

Every operation of the schema is exercised with generated requests (valid and invalid
bodies, query strings and headers), with the API key, so that ``/feedback`` and ``/reload``
get past authentication. The last test checks that at least 1,000 cases ran.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.serving.conftest import API_KEY

pytestmark = pytest.mark.slow

CASES_PER_OPERATION = 450  # /predict, /feedback and /predictions take inputs
calls: list[tuple[str, int]] = []


@pytest.fixture(scope="module")
def api_schema(served):
    return schemathesis.openapi.from_url(f"{served.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=CASES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_generated_request_gets_a_server_error(case):
    response = case.call(headers={"X-API-Key": API_KEY}, timeout=30)

    calls.append((f"{case.method} {case.path}", response.status_code))
    assert response.status_code < 500, (case.method, case.path, response.text[:500])
    assert "Traceback" not in response.text


def test_at_least_a_thousand_cases_ran_without_a_5xx():
    assert len(calls) >= 1000, len(calls)
    assert not [call for call in calls if call[1] >= 500]
    assert {path for path, _ in calls} >= {"POST /predict", "POST /feedback", "GET /predictions"}
