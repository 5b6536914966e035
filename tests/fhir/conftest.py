"""Fixtures of the FHIR tests: bearer tokens (the API's), a GET helper that parses what it gets
back with fhir.resources' R4B models, and a small clinic."""

from __future__ import annotations

import pytest
from fhir.resources.R4B import get_fhir_model_class

from tests.api.conftest import bearer  # noqa: F401  (the API's token fixture)

FHIR_JSON = "application/fhir+json"


def parsed(response):
    """The answer's body as its fhir.resources R4B model (what a FHIR client would get)."""
    assert response.mimetype == FHIR_JSON, (response.status_code, response.mimetype, response.data[:300])
    body = response.get_json()
    model = get_fhir_model_class(body["resourceType"])
    return model.model_validate(body)


@pytest.fixture
def fhir_get(client, bearer):  # noqa: F811
    """fhir_get(path, role="doctor", status=200, **kwargs) -> the parsed resource."""
    tokens: dict[str, dict] = {}

    def get(path, role="doctor", status=200, **kwargs):
        if role not in tokens:
            tokens[role] = bearer(role)
        response = client.get(path, headers=tokens[role] | kwargs.pop("headers", {}), **kwargs)
        assert response.status_code == status, (path, response.status_code, response.data[:500])
        get.response = response
        return parsed(response)

    return get
