"""Fixtures of the PACS tests: the session's real Orthanc (tests/pacs/orthanc.py), empty for each
test, and an app configured to use it. Missing Orthanc or storescu skips the tests, and fails
them under REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import pytest

from tests.pacs.orthanc import start_orthanc


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory):
    server = start_orthanc(tmp_path_factory.mktemp("orthanc"))
    yield server
    server.stop()


@pytest.fixture
def pacs(orthanc):
    """The session's Orthanc, empty, started (a test may have stopped it)."""
    if orthanc.process is None or orthanc.process.poll() is not None:
        orthanc.start()
    orthanc.clear()
    return orthanc


@pytest.fixture
def pacs_config(pacs):
    return {"ORTHANC_URL": pacs.url, "ORTHANC_TIMEOUT": 2.0, "PACS_POLL_SECONDS": 0.2, "PACS_MAX_BACKOFF_SECONDS": 0.5}


@pytest.fixture
def app_config(database_url, pacs_config):
    return {"WTF_CSRF_ENABLED": False, **pacs_config}
