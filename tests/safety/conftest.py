"""Fixtures of the safety tests: the API tests' bearer tokens and order payloads (reused, not copied)."""

import pytest

from tests.api.conftest import bearer, order_payload  # noqa: F401


@pytest.fixture
def app_config():
    """Page forms posted by the test client carry no CSRF token (tests/pages does the same)."""
    return {"WTF_CSRF_ENABLED": False}
