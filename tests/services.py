"""Finding the external services the tests use (PostgreSQL, Redis, Chromium, dcmtk).

A test that needs one calls ``require(...)``: it skips when the service is missing, and fails
instead when REQUIRE_SERVICES=1 (CI sets it), so a missing install step cannot hide.
"""

from __future__ import annotations

import os
import shutil
import socket
from urllib.parse import urlparse

import pytest

DEFAULT_TEST_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/0"
CHROMIUM = "/usr/bin/chromium"


def services_required() -> bool:
    return os.environ.get("REQUIRE_SERVICES") == "1"


def require(available: bool, what: str) -> None:
    if available:
        return
    if services_required():
        pytest.fail(f"{what} is required (REQUIRE_SERVICES=1) but not available")
    pytest.skip(f"{what} not available")


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def test_database_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)
    if url.startswith(("postgres://", "postgresql://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def test_redis_url() -> str:
    return os.environ.get("TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL)


def postgres_available() -> bool:
    return _reachable(test_database_url(), 5432)


def redis_available() -> bool:
    return _reachable(test_redis_url(), 6379)


# Not tests, despite their names.
test_database_url.__test__ = False
test_redis_url.__test__ = False


def chromium_available() -> bool:
    return os.path.exists(CHROMIUM)


def dcmtk_available() -> bool:
    return shutil.which("findscu") is not None
