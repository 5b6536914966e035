"""A Redis outage: orders still commit, streams come back by themselves, nothing is lost."""

from __future__ import annotations

import pytest
import redis

from tests.events.livestack import wait_until
from webapp.extensions import db
from webapp.imaging import queries, services
from webapp.imaging.models import OrderEvent


@pytest.fixture
def events_redis_url(own_redis):
    return own_redis.url


def _subscribers(app) -> int:
    try:
        client = redis.Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=0.2)
        return dict(client.pubsub_numsub(app.config["SSE_CHANNEL"]))[app.config["SSE_CHANNEL"].encode()]
    except redis.RedisError:
        return -1


@pytest.mark.sqlite_only
def test_streams_survive_a_redis_outage_without_losing_events(
    app, own_redis, live_server_factory, sse_clients, make_order, make_user
):
    orders = [make_order("scheduled") for _ in range(4)]
    technician, doctor, wall = make_user("technician"), make_user("doctor"), make_user("display")
    with app.app_context():
        before = db.session.scalar(db.select(db.func.max(OrderEvent.id)))
    server = live_server_factory(workers=1)
    # Browsers: they reconnect by themselves and send Last-Event-ID, as EventSource does.
    clients = [sse_clients(app, server, user, reconnect=True, last_event_id=str(before)) for user in (doctor, wall)]
    assert all(c.connected.wait(15) for c in clients)
    assert wait_until(lambda: _subscribers(app) == 2, 3)

    def start(order):
        with app.app_context():
            services.start_order(db.session.merge(technician), queries.get_order(order.id))
            db.session.commit()
            return db.session.scalar(db.select(db.func.max(OrderEvent.id)))

    committed = [start(orders[0])]
    assert all(c.next_event(2).id == str(committed[0]) for c in clients)

    own_redis.stop()
    # Orders still commit during the outage (publishing fails quietly; the rows are there).
    committed += [start(order) for order in orders[1:3]]
    with app.app_context():
        assert [queries.get_order(o.id).status for o in orders[:3]] == ["in_progress"] * 3

    own_redis.start()
    # The streams come back by themselves and subscribe again ...
    assert wait_until(lambda: _subscribers(app) == 2, 10), server.log()
    committed.append(start(orders[3]))
    # ... and each client has every event exactly once, in order: none lost in the outage.
    for client in clients:
        received = [client.next_event(5) for _ in committed[1:]]
        assert [int(e.id) for e in received] == committed[1:]
        assert client.connects >= 2
    assert [e.json()["status"] for e in received] == ["in_progress"] * 3
    assert all(c.events.empty() for c in clients)
