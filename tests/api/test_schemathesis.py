"""Property-based tests of the whole API from its own OpenAPI document (schemathesis).

Every operation, called as a signed-in doctor with generated valid and invalid input: no 5xx,
and every answer matches the status codes, content types, headers and schemas the document
declares. Examples are few per operation, so the run stays well under two minutes.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.operations import EXPECTED_OPERATIONS
from webapp import create_app
from webapp.config import TestConfig

pytestmark = pytest.mark.sqlite_only
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection]



def _openapi_document() -> dict:
    """The app's document, read at collection time (it does not depend on the database)."""
    app = create_app(TestConfig("sqlite://"))
    with app.test_client() as client:
        return client.get("/api/v1/openapi.json").json


@pytest.fixture
def doctor_headers(bearer, make_order):
    """A doctor's token, and a few records for the generated calls to find."""
    headers = bearer("doctor")
    make_order("ordered", doctor=bearer.user)
    make_order("scheduled")
    return headers


schema = schemathesis.openapi.from_dict(_openapi_document())


@schema.parametrize()
@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_its_contract(case, live_server, doctor_headers):
    """Over real HTTP to the app in a thread (one database per test, as every API test)."""
    case.call_and_validate(base_url=live_server.url, headers=doctor_headers, checks=CHECKS)


def test_the_document_names_every_operation(client):
    spec = client.get("/api/v1/openapi.json").json
    operations = {f"{method.upper()} {path}" for path, item in spec["paths"].items() for method in item}
    assert operations == EXPECTED_OPERATIONS
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "422" in responses and "400" in responses, (method, path)
            assert "application/problem+json" in responses["422"]["content"], (method, path)
