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
    server = live_server_factory(workers=1)
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
