"""/stream served by gunicorn's gevent worker, as `make run` serves it."""

from __future__ import annotations

import time

import pytest
import redis

from tests.events.conftest import HEARTBEAT
from tests.events.livestack import wait_until
from webapp.extensions import db
from webapp.imaging import queries, services


def _subscribers(app) -> int:
    client = redis.Redis.from_url(app.config["REDIS_URL"])
    return dict(client.pubsub_numsub(app.config["SSE_CHANNEL"]))[app.config["SSE_CHANNEL"].encode()]


def _stream_connections(app) -> int:
    """Subscribed connections the app opened (they are named imaging-events-<pid>)."""
    client = redis.Redis.from_url(app.config["REDIS_URL"])
    return sum(1 for c in client.client_list() if c.get("name", "").startswith("imaging-events-")
               and int(c.get("sub", 0)) > 0)


@pytest.mark.sqlite_only
def test_stream_on_gunicorn(app, live_server_factory, sse_clients, make_order, make_user):
    order = make_order("scheduled", priority="stat")
    technician, doctor = make_user("technician"), make_user("doctor")
    server = live_server_factory(workers=1)

    refused = sse_clients(app, server)
    assert wait_until(lambda: refused.status is not None)
    assert refused.status == 401, "no stream without signing in"

    watcher = sse_clients(app, server, doctor)
    assert watcher.connected.wait(15)
    # Headers and a first line at once, not held back until the first event (none was published).
    assert watcher.headers_at - watcher.started_at < 5
    assert watcher.headers["content-type"].startswith("text/event-stream")
    assert watcher.headers["cache-control"] == "no-cache"
    assert watcher.headers["x-accel-buffering"] == "no"
    assert wait_until(lambda: any(text == "connected" for _, text in watcher.comments), 2)
    # A heartbeat comment within the configured interval.
    assert wait_until(lambda: any(text == "heartbeat" for _, text in watcher.comments), HEARTBEAT * 2 + 1)
    assert wait_until(lambda: _subscribers(app) == 1, 2)

    # A change committed elsewhere (this process) reaches the browser of another process within 1 s.
    with app.app_context():
        current = queries.get_order(order.id)
        services.start_order(db.session.merge(technician), current, expected_version=current.version)
        db.session.commit()
        committed = time.monotonic()
    event = watcher.next_event(timeout=2)
    latency = time.monotonic() - committed
    assert event.type == "order-changed"
    assert event.json()["status"] == "in_progress" and event.json()["accession_number"] == order.accession_number
    assert latency < 1.0

    # Clients that go away are dropped within the heartbeat: their Redis connection is released.
    leaving = [sse_clients(app, server, doctor) for _ in range(3)]
    assert all(c.connected.wait(15) for c in leaving)
    assert wait_until(lambda: _subscribers(app) == 4, 2)
    assert _stream_connections(app) >= 4
    for client in leaving:
        client.close()
    closed_at = time.monotonic()
    assert wait_until(lambda: _subscribers(app) == 1, HEARTBEAT + 1, interval=0.02)
    assert time.monotonic() - closed_at <= HEARTBEAT + 0.5
    assert wait_until(lambda: _stream_connections(app) == 1, 1)

    # Open streams do not hold up a shutdown: they end as soon as the worker is told to stop.
    took = server.stop()
    assert took < 5, server.log()
    assert "Worker graceful timeout" not in server.log()
