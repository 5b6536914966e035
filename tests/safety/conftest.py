"""Fixtures of the safety tests: the API tests' bearer tokens and order payloads (reused, not copied)."""

from tests.api.conftest import bearer, order_payload  # noqa: F401
