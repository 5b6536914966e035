"""Open streams per account are capped, counted in Redis across workers and hosts."""

from __future__ import annotations

import time

import pytest

from tests.events.conftest import HEARTBEAT
from tests.events.livestack import wait_until


def _status(client) -> int | None:
    wait_until(lambda: client.status is not None, 20)
    return client.status


@pytest.mark.sqlite_only
def test_one_account_cannot_open_unlimited_streams(app, live_server_factory, sse_clients, make_user):
    doctor, colleague = make_user("doctor"), make_user("radiologist")
    # Two servers on one Redis and one database, like two hosts: the count is shared.
    first = live_server_factory(workers=1, STREAM_MAX_PER_USER=3)
    second = live_server_factory(workers=1, STREAM_MAX_PER_USER=3)

    held = [sse_clients(app, first, doctor), sse_clients(app, first, doctor), sse_clients(app, second, doctor)]
    assert all(client.connected.wait(20) for client in held)
    for server in (first, second):
        refused = sse_clients(app, server, doctor)
        assert _status(refused) == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["retry-after"]) >= 1
    other = sse_clients(app, second, colleague)
    assert other.connected.wait(20), "another account still connects"

    # A closed tab gives its slot back (noticed within a second or a heartbeat).
    held[0].close()

    def reopened() -> bool:
        client = sse_clients(app, second, doctor)
        if _status(client) == 200:
            return True
        client.close()
        return False

    assert wait_until(reopened, HEARTBEAT + 5, interval=0.3)
    assert _status(sse_clients(app, first, doctor)) == 429, "still three at most"


@pytest.fixture
def app_config(app_config):
    return app_config | {"STREAM_MAX_PER_USER": 1, "STREAM_MAX_PER_DISPLAY": 2, "STREAM_SLOT_LEASE_SECONDS": 0}


def _open(client):
    response = client.get("/stream", buffered=False)
    if response.status_code == 200:
        next(iter(response.response))  # the stream is running
    return response


@pytest.mark.sqlite_only
def test_slots_of_a_crashed_worker_lapse(app, client, auth):
    """A stream that never ends nor renews (its worker died) holds its slot for one lease only."""
    auth.login("doctor")
    lease = 3 * HEARTBEAT  # STREAM_SLOT_LEASE_SECONDS=0: the floor of three heartbeats
    crashed = _open(client)
    assert crashed.status_code == 200
    refused = _open(client)
    assert refused.status_code == 429
    assert refused.get_json()["status"] == 429 and "1 live update stream" in refused.get_json()["detail"]
    time.sleep(lease + 0.3)
    taken_over = _open(client)
    try:
        assert taken_over.status_code == 200
        # The old stream, were it still running, ends at its next renewal and reconnects.
        text = ""
        for chunk in crashed.response:
            text += chunk.decode()
        assert text.endswith(": reconnect\n\n")
        assert _open(client).status_code == 429, "the old stream did not take its slot back"
    finally:
        taken_over.close()
        crashed.close()
    reopened = _open(client)
    assert reopened.status_code == 200, "closing gives the slot back"
    reopened.close()


@pytest.mark.sqlite_only
def test_the_display_account_has_its_own_cap(app, client, auth, make_user):
    auth.login("display")
    screens = [_open(client) for _ in range(3)]
    try:
        assert [r.status_code for r in screens] == [200, 200, 429]
    finally:
        for response in screens:
            response.close()


@pytest.mark.sqlite_only
def test_a_failed_replay_gives_the_slot_back(app, client, auth, monkeypatch):
    from sqlalchemy.exc import OperationalError

    import webapp.events.stream as stream_module

    def database_down(*_args):
        raise OperationalError("SELECT", {}, Exception("server closed the connection"))

    auth.login("doctor")
    monkeypatch.setattr(stream_module, "replay_messages", database_down)
    assert client.get("/stream", headers={"Last-Event-ID": "0"}).status_code == 503
    monkeypatch.undo()
    response = _open(client)
    assert response.status_code == 200, "the failed stream's slot was given back"
    response.close()
