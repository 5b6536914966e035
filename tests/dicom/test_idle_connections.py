"""Idle TCP connections cannot lock scanners out of the worklist (issue 26, item 6).

Twelve connections that never send an A-ASSOCIATE-RQ used to fill pynetdicom's association
limit (10) for its 30 s ACSE timeout, repeatably, before any AE title was checked. Now one peer
holds at most ``DICOM_MAX_CONNECTIONS_PER_PEER`` connections (more are closed at once) and a
connection that sends no association request within ``DICOM_ASSOCIATION_REQUEST_TIMEOUT`` is
closed. The attacker connects from 127.0.0.2 (any 127.x address is this machine), the scanner
from 127.0.0.1: two peers.
"""

from __future__ import annotations

import socket
import time

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from tests.dicom.conftest import SERVICE_AE
from tests.sockets import closed_within

pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def app_config():
    return {"DICOM_MAX_CONNECTIONS_PER_PEER": 4, "DICOM_ASSOCIATION_REQUEST_TIMEOUT": 2}


def _echo(port: int) -> int | None:
    ae = AE(ae_title="CT1")
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.network_timeout = 10
    assoc = ae.associate("127.0.0.1", port, ae_title=SERVICE_AE)
    if not assoc.is_established:
        return None
    status = assoc.send_c_echo()
    assoc.release()
    return status.Status if status else None



def test_idle_connections_from_one_peer_do_not_lock_scanners_out(dicom_server):
    port = dicom_server
    idle = []
    for _ in range(12):
        sock = socket.socket()
        sock.bind(("127.0.0.2", 0))
        sock.connect(("127.0.0.1", port))
        idle.append(sock)
    try:
        time.sleep(0.5)  # let the server take them all
        assert _echo(port) == 0x0000  # a scanner still gets in, at once
        # The peer keeps at most 4 of its 12; the others were closed straight away.
        closed_now = sum(closed_within(sock, 0.2) for sock in idle)
        assert closed_now >= 8, closed_now
        # And the ones kept are closed once the association request is overdue.
        started = time.monotonic()
        assert all(closed_within(sock, 10) for sock in idle)
        assert time.monotonic() - started < 8
    finally:
        for sock in idle:
            sock.close()
    assert _echo(port) == 0x0000
