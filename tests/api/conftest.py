"""Fixtures of the API tests: bearer tokens per role, order payloads, and a live server."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest
from werkzeug.serving import make_server


@pytest.fixture
def bearer(client, make_user):
    """bearer(role_or_user="doctor") -> headers with a token from POST /api/v1/auth/token."""

    def factory(role_or_user="doctor", password="password-123"):
        user = make_user(role_or_user, password=password) if isinstance(role_or_user, str) else role_or_user
        response = client.post("/api/v1/auth/token", json={"username": user.username, "password": password})
        assert response.status_code == 200, response.json
        headers = {"Authorization": f"Bearer {response.json['access_token']}"}
        factory.user = user
        return headers

    return factory


@pytest.fixture
def order_payload(make_visit):
    """order_payload(visit=None, **fields) -> a valid POST /api/v1/imaging/orders body."""

    def factory(visit=None, **fields):
        visit = visit or make_visit()
        return {
            "patient_id": str(visit.patient_id), "visit_id": str(visit.id), "modality": "XRAY",
            "body_part": "CHEST", "procedure_code": "71046", "clinical_indication": "Suspected pneumonia",
            "priority": "routine",
        } | fields

    return factory


class LiveServer:
    """The app served by werkzeug in a thread on a free port of 127.0.0.1."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def request(self, method: str, path: str, body=None, headers=None, timeout: float = 90):
        """(status, headers, parsed JSON body or None); never raises for HTTP errors."""
        data = json.dumps(body).encode() if body is not None else None
        all_headers = {"Content-Type": "application/json"} if data is not None else {}
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers=all_headers | (headers or {}))
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw, status, response_headers = response.read(), response.status, response.headers
        except urllib.error.HTTPError as error:
            raw, status, response_headers = error.read(), error.code, error.headers
        return status, response_headers, json.loads(raw) if raw else None


@pytest.fixture
def live_server(app):
    server = LiveServer(app)
    server.thread.start()
    yield server
    server.server.shutdown()
    server.thread.join(timeout=10)
