"""One Redis connection pool per process for the live event stream.

Each open ``/stream`` holds one pooled connection (its SUBSCRIBE) for as long as it is open,
so the pool is sized for the streams a worker holds (``SSE_REDIS_MAX_CONNECTIONS``, by default
gunicorn's ``worker_connections`` plus some for publishing) instead of redis-py's default cap
of 100. Connections never retry on their own: a stream whose Redis went away ends, and the
browser reconnects with ``Last-Event-ID`` and gets what it missed from the database.
"""

from __future__ import annotations

import os
import threading

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

_pools: dict[tuple[int, str, int], redis.ConnectionPool] = {}
_lock = threading.Lock()


def connection_pool(url: str, max_connections: int) -> redis.ConnectionPool:
    """The process's pool for ``url`` (made again in a forked child: sockets are not shared)."""
    key = (os.getpid(), url, max_connections)
    pool = _pools.get(key)
    if pool is None:
        with _lock:
            pool = _pools.get(key)
            if pool is None:
                options = {
                    "max_connections": max_connections,
                    "socket_connect_timeout": 1.0,
                    "socket_timeout": 5.0,
                    "health_check_interval": 30,
                    "retry": Retry(NoBackoff(), 0),
                    "client_name": f"imaging-events-{os.getpid()}",
                }
                if not url.startswith("unix:"):  # the embedded Redis listens on a Unix socket
                    options["socket_keepalive"] = True
                pool = redis.ConnectionPool.from_url(url, **options)
                _pools[key] = pool
    return pool


_clients: dict[tuple[int, str, int], redis.Redis] = {}


def client(url: str, max_connections: int) -> redis.Redis:
    """The process's client on that pool (making a redis.Redis costs more than a PUBLISH)."""
    key = (os.getpid(), url, max_connections)
    found = _clients.get(key)
    if found is None or found.connection_pool is not _pools.get(key):
        found = _clients[key] = redis.Redis(connection_pool=connection_pool(url, max_connections))
    return found

