"""Fixtures for the live-events tests: Redis, a gunicorn server on the test's database, sessions."""

from __future__ import annotations

import uuid

import pytest

from tests.events.livestack import RedisServer, SSEClient, session_cookie, start_live_server
from tests.services import redis_available, require, test_redis_url

HEARTBEAT = 1.0


@pytest.fixture
def sse_channel():
    """A channel of the test's own: other test sessions may share the Redis server."""
    return f"test-live:{uuid.uuid4().hex}"


@pytest.fixture
def events_redis_url():
    require(redis_available(), "Redis (TEST_REDIS_URL)")
    return test_redis_url()


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server on a free port of this test's own (it may be stopped and restarted)."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def app_config(events_redis_url, sse_channel):
    return {"REDIS_URL": events_redis_url, "SSE_CHANNEL": sse_channel, "SSE_HEARTBEAT_SECONDS": HEARTBEAT,
            "SSE_RETRY_MS": 300}


@pytest.fixture
def live_server_factory(app, tmp_path):
    """start(workers=1, redis_url=<the app's>, **env) -> LiveServer on the test's database."""
    servers = []

    def start(workers: int = 1, redis_url: str | None = "app", port: int | None = None, **env):
        values = {
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "SECRET_KEY": app.config["SECRET_KEY"],
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SSE_CHANNEL": app.config["SSE_CHANNEL"],
            "SSE_HEARTBEAT_SECONDS": str(app.config["SSE_HEARTBEAT_SECONDS"]),
            "SSE_RETRY_MS": str(app.config["SSE_RETRY_MS"]),
            "ACCESS_LOG": "-",
        } | {k: str(v) for k, v in env.items()}
        if redis_url == "app":
            redis_url = app.config["REDIS_URL"]
        if redis_url:
            values["REDIS_URL"] = redis_url
        server = start_live_server(tmp_path, values, workers=workers, port=port)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def sse_clients():
    """open(server, user=None, **kw) -> SSEClient; every client is closed after the test."""
    clients = []

    def open_client(app, server, user=None, **kwargs):
        cookie = session_cookie(app, user) if user is not None else None
        client = SSEClient(server.url, cookie, **kwargs)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.close()
