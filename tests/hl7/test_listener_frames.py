"""The HL7 listener bounds a message that never ends (issue 26, item 7).

A sender that stops in the middle of an MLLP frame used to hold its connection and thread open
for good; now the whole frame must arrive within HL7_FRAME_TIMEOUT_SECONDS. A connection that is
idle between messages keeps the longer idle bound, and a message sent slowly but in time is
answered.
"""

from __future__ import annotations

import socket
import time

import pytest

from tests.hl7.test_inbound import orm  # a valid ORM^O01 (the listener fixture is in tests/hl7/conftest.py)
from tests.sockets import closed_within

pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def app_config():
    return {"HL7_FRAME_TIMEOUT_SECONDS": 1}



def test_a_partial_frame_is_closed_after_the_frame_timeout(listener):
    sock = socket.create_connection(("127.0.0.1", listener))
    sock.sendall(b"\x0bMSH|^~\\&|EHR|HOSP|")  # the start of a message, and then nothing
    started = time.monotonic()
    assert closed_within(sock, 10)
    assert time.monotonic() - started < 5
    sock.close()


def test_a_slow_but_timely_message_is_answered_and_idle_connections_stay(listener):
    sock = socket.create_connection(("127.0.0.1", listener))
    message = ("\x0b" + orm(control_id="SLOW1").replace("\n", "\r") + "\x1c\r").encode()
    half = len(message) // 2
    sock.sendall(message[:half])
    time.sleep(0.5)
    sock.sendall(message[half:])
    sock.settimeout(30)
    answer = sock.recv(65536)
    assert b"MSA|A" in answer
    assert not closed_within(sock, 1.5)  # idle between messages: not the frame bound
    sock.close()
