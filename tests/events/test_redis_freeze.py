"""A Redis that stops answering without closing anything (a frozen process): a request that has
committed is not held for seconds by publishing, and its event is not lost."""

from __future__ import annotations

import json
import signal
import time

import pytest

from webapp.extensions import db
from webapp.imaging.models import OrderEvent

pytestmark = pytest.mark.sqlite_only  # about Redis; the database does not matter


@pytest.fixture
def events_redis_url(own_redis):
    return own_redis.url


@pytest.fixture
def app_config(events_redis_url, sse_channel):
    return {"REDIS_URL": events_redis_url, "SSE_CHANNEL": sse_channel, "SSE_HEARTBEAT_SECONDS": 1.0,
            "WTF_CSRF_ENABLED": False}


@pytest.fixture
def frozen(own_redis):
    """Freeze (SIGSTOP) this test's own redis-server; thawed again afterwards."""
    process = own_redis.process

    def freeze():
        process.send_signal(signal.SIGSTOP)

    yield freeze
    process.send_signal(signal.SIGCONT)


def _read_events(client, last_event_id: int, count: int) -> list[dict]:
    response = client.get("/stream", headers={"Last-Event-ID": str(last_event_id)}, buffered=False)
    text = ""
    try:
        chunks = iter(response.response)
        while text.count("event:order-changed") < count:
            text += next(chunks).decode()
    finally:
        response.close()
    return [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]


def test_a_frozen_redis_does_not_hold_a_committed_request(app, client, auth, make_order, own_redis, frozen):
    order = make_order("ordered")
    auth.login("doctor")
    with app.app_context():
        seen = db.session.scalar(db.select(db.func.max(OrderEvent.id)))
    listener = own_redis.client().pubsub(ignore_subscribe_messages=True)
    listener.subscribe(app.config["SSE_CHANNEL"])
    # Warm the publishing connection: it is open, then Redis stops answering on it.
    assert client.post(f"/imaging/orders/{order.id}/actions/note",
                       data={"note-version": order.version, "note-note": "before"}).status_code in (200, 303)

    frozen()
    timings = []
    for version, text in ((order.version + 1, "during 1"), (order.version + 2, "during 2")):
        started = time.monotonic()
        response = client.post(f"/imaging/orders/{order.id}/actions/note",
                               data={"note-version": version, "note-note": text})
        timings.append(time.monotonic() - started)
        assert response.status_code in (200, 303), response.get_data(as_text=True)[:300]
    # SSE_PUBLISH_TIMEOUT_SECONDS is 0.5: well under 2 s each (it was 5 s, redis-py's socket timeout).
    assert max(timings) < 2.0, timings

    own_redis.process.send_signal(signal.SIGCONT)
    with app.app_context():
        notes = list(db.session.scalars(db.select(OrderEvent.id).where(OrderEvent.id > seen).order_by(OrderEvent.id)))
    assert len(notes) == 3
    # Not lost: a stream coming back with Last-Event-ID gets them from the table.
    replayed = _read_events(client, seen, 3)
    assert [item["event_id"] for item in replayed] == notes
    # And Redis works for publishing again (a fresh connection replaced the timed-out one).
    assert client.post(f"/imaging/orders/{order.id}/actions/note",
                       data={"note-version": order.version + 3, "note-note": "after"}).status_code in (200, 303)
    deadline = time.monotonic() + 5
    got = []
    while time.monotonic() < deadline and (not got or got[-1]["version"] != order.version + 4):
        message = listener.get_message(timeout=0.2)
        if message and message["type"] == "message":
            got.append(json.loads(message["data"])["data"])
    listener.close()
    assert got and got[-1]["version"] == order.version + 4, got

