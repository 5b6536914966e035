"""A client that sends its request body slowly must not stall the other writers of its worker.

On SQLite a writing request holds the write lock from its first query (the bearer token's user)
to its commit. Under gevent, if the app then waited for the rest of the body, another greenlet
of the same worker that began writing would wait in SQLite's busy handler, blocking the whole
process: neither could finish until the busy timeout (60 s) or gunicorn's worker timeout.
``webapp.extensions.BodyReadFirst`` reads the body before the app runs.
"""

from __future__ import annotations

import http.client
import json
import socket
import time

import pytest

from tests.events.livestack import SlowSenders, wait_until
from webapp.api.security import issue_token
from webapp.auth.models import User
from webapp.extensions import db


def _token(app, user) -> str:
    with app.app_context():
        return issue_token(db.session.get(User, user.id))


def test_a_slow_body_does_not_stall_another_writer(app, live_server_factory, make_user, make_visit):
    doctor = make_user("doctor")
    visit = make_visit()
    token = _token(app, doctor)
    server = live_server_factory(workers=1, BODY_READ_TIMEOUT=60)  # the slow body here is not an attack
    host, port = "127.0.0.1", server.port

    def body(indication: str) -> bytes:
        return json.dumps({"patient_id": str(visit.patient_id), "visit_id": str(visit.id), "modality": "XRAY",
                           "body_part": "CHEST", "clinical_indication": indication}).encode()

    slow_body = body("Sent slowly: cough for three weeks")
    slow = socket.create_connection((host, port), timeout=30)
    slow.sendall((f"POST /api/v1/imaging/orders HTTP/1.1\r\nHost: {host}:{port}\r\n"
                  f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(slow_body)}\r\nConnection: close\r\n\r\n").encode() + slow_body[:20])
    time.sleep(0.5)  # the worker has the headers and waits for the rest of the body

    fast = http.client.HTTPConnection(host, port, timeout=20)
    started = time.monotonic()
    fast.request("POST", "/api/v1/imaging/orders", body=body("Sent at once: fever"),
                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    response = fast.getresponse()
    answered_in = time.monotonic() - started
    assert response.status == 201, response.read()[:300]
    assert answered_in < 5, f"the complete request waited {answered_in:.1f} s behind the slow one"

    slow.sendall(slow_body[20:])
    reply = b""
    while chunk := slow.recv(65536):
        reply += chunk
    slow.close()
    assert reply.startswith(b"HTTP/1.1 201"), reply[:300]
    accession = json.loads(reply.split(b"\r\n\r\n", 1)[1])["accession_number"]
    assert accession != json.loads(response.read())["accession_number"]


@pytest.mark.sqlite_only
def test_slow_bodies_cannot_hold_every_connection(app, live_server_factory):
    """Three times as many slow-body sockets as the worker has connections: a normal request is
    still answered, and each slow sender gets 408 and a closed connection after the deadline."""
    connections, deadline = 60, 2.0
    server = live_server_factory(workers=1, WORKER_CONNECTIONS=connections, BODY_READ_TIMEOUT=deadline)
    slow = SlowSenders(server.port, connections * 3)
    try:
        time.sleep(1.0)  # the worker has taken as many as it holds; the rest wait in the backlog
        first = min(slow.opened_at.values())
        page = http.client.HTTPConnection("127.0.0.1", server.port, timeout=40)
        started = time.monotonic()
        try:
            page.request("GET", "/login")
            response = page.getresponse()
            status, answered_in = response.status, time.monotonic() - started
        except TimeoutError:
            status, answered_in = None, time.monotonic() - started
        assert status == 200, f"a normal request was not answered within {answered_in:.0f} s"
        # Three rounds of slow senders, each ended after the deadline: not a wait without end.
        assert answered_in < 3 * deadline + 15, answered_in

        assert wait_until(lambda: not slow.open, 3 * deadline + 15, interval=0.2), f"{len(slow.open)} still open"
        assert slow.answered(b"408") >= connections * 3 * 0.9, {r[:12] for r in slow.replies.values()}
        # The first round (accepted at once) was closed within the deadline, give or take a loaded machine.
        earliest = sorted(ended - first for ended in slow.ended_at.values())[: connections // 2]
        assert max(earliest) < deadline + 3, earliest[-5:]
        reply = next(r for r in slow.replies.values() if r.startswith(b"HTTP/1.1 408"))
        assert b"application/problem+json" in reply and b"did not arrive within 2 seconds" in reply

        # A chunked body has the same deadline; a complete one is read as before.
        chunked = socket.create_connection(("127.0.0.1", server.port), timeout=deadline + 10)
        chunked.sendall(b"POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n")
        sent = time.monotonic()
        assert chunked.recv(65536).startswith(b"HTTP/1.1 408")
        assert time.monotonic() - sent < deadline + 3
        chunked.close()
        whole = json.dumps({"username": "nobody", "password": "wrong"}).encode()
        complete = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
        complete.request("POST", "/api/v1/auth/token", body=iter([whole[:10], whole[10:]]),
                         headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"}, encode_chunked=True)
        assert complete.getresponse().status == 401
        complete.close()
        too_big = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
        too_big.request("POST", "/api/v1/auth/token", body=iter([b"{" + b" " * 300_000 + b"}"]),
                        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"}, encode_chunked=True)
        assert too_big.getresponse().status in (400, 413)  # the API reads a cut-off body as malformed (as before)
        print(f"normal request answered in {answered_in:.1f} s; first round closed after {max(earliest):.1f} s")
    finally:
        slow.close()
