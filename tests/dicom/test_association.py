"""Who may associate: the calling AE allow list (any case), the called AE title, and the log of refusals."""

from __future__ import annotations

import logging
import subprocess
import time

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from tests.dicom.conftest import SERVICE_AE, association, echo_ok
from tests.services import dcmtk_available, require

pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def app_config():
    # Every client here is 127.0.0.1: the per-peer limit is lifted so that the service's own
    # association limit (10) is what the last test reaches.
    return {"DICOM_ALLOWED_AE_TITLES": ["CT1", "PYSCU", "findscu"], "DICOM_MAX_CONNECTIONS_PER_PEER": 100,
            "DICOM_MAX_ASSOCIATIONS": 10}


def echoscu(port: int, calling_ae: str, called_ae: str = SERVICE_AE) -> subprocess.CompletedProcess:
    require(dcmtk_available(), "dcmtk (echoscu)")
    return subprocess.run(["echoscu", "-aet", calling_ae, "-aec", called_ae, "127.0.0.1", str(port)],
                          capture_output=True, text=True, timeout=60)


def _associate(port: int, calling_ae: str, called_ae: str):
    ae = AE(ae_title=calling_ae)
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    return ae.associate("127.0.0.1", port, ae_title=called_ae)


def _logged(caplog, *parts: str, timeout: float = 10.0) -> str:
    """The service's warning naming every one of ``parts`` (the service logs from its own threads)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in caplog.records:
            message = record.getMessage()
            if record.name.startswith("webapp.dicom") and all(part in message for part in parts):
                return message
        time.sleep(0.05)
    raise AssertionError(f"no log line with {parts}: {[r.getMessage() for r in caplog.records]}")


def test_allowed_ae_titles_compare_in_any_case(app, dicom_server):
    assert echo_ok(dicom_server, "ct1")
    assert echo_ok(dicom_server, "FindSCU")
    assert echoscu(dicom_server, "ct1").returncode == 0
    assert echoscu(dicom_server, "FINDSCU", SERVICE_AE.lower()).returncode == 0  # the called AE title too


def test_unknown_calling_ae_is_refused_and_logged_with_its_address(app, dicom_server, caplog):
    caplog.set_level(logging.WARNING, logger="webapp.dicom")
    intruder = association(dicom_server, "INTRUDER")
    assert intruder.is_rejected
    assert intruder.acceptor.primitive.diagnostic == 0x03  # calling AE title not recognised
    line = _logged(caplog, "INTRUDER", "127.0.0.1")
    assert "calling AE title" in line
    assert echoscu(dicom_server, "INTRUDER2").returncode != 0
    _logged(caplog, "INTRUDER2", "127.0.0.1")
    assert not any("AttributeError" in (r.exc_text or "") + r.getMessage() for r in caplog.records)
    assert echo_ok(dicom_server, "CT1")


def test_wrong_called_ae_is_refused_and_logged(app, dicom_server, caplog):
    caplog.set_level(logging.WARNING, logger="webapp.dicom")
    wrong = _associate(dicom_server, "CT1", "ANOTHERPACS")
    assert wrong.is_rejected
    assert wrong.acceptor.primitive.diagnostic == 0x07  # called AE title not recognised
    line = _logged(caplog, "ANOTHERPACS", "CT1", "127.0.0.1")
    assert "called AE title" in line
    assert echoscu(dicom_server, "CT1", "ORTHANC").returncode != 0
    _logged(caplog, "ORTHANC", "127.0.0.1")
    assert echo_ok(dicom_server, "CT1")


def test_refusal_by_the_dicom_layer_is_logged_too(app, dicom_server, caplog):
    """pynetdicom's own refusals (here: more than DICOM_MAX_ASSOCIATIONS, 10, at once) reach handle_rejected."""
    caplog.set_level(logging.WARNING, logger="webapp.dicom")
    held = [association(dicom_server, "CT1", [Verification]) for _ in range(10)]
    try:
        assert all(assoc.is_established for assoc in held)
        extra = association(dicom_server, "PYSCU", [Verification])
        assert extra.is_rejected
        _logged(caplog, "PYSCU", "127.0.0.1", "rejected")
    finally:
        for assoc in held:
            assoc.release()
    assert not any("AttributeError" in (r.exc_text or "") + r.getMessage() for r in caplog.records)
    assert echo_ok(dicom_server, "CT1")
