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

_pools: dict[tuple, redis.ConnectionPool] = {}
_lock = threading.Lock()


def connection_pool(url: str, max_connections: int, timeout: float | None = None) -> redis.ConnectionPool:
    """The process's pool for ``url`` (made again in a forked child: sockets are not shared).

    ``timeout`` bounds connecting and every answer (publishing: a frozen Redis that accepts but
    never answers must not hold a request that has committed); streams keep the defaults.
    """
    key = (os.getpid(), url, max_connections, timeout)
    pool = _pools.get(key)
    if pool is None:
        with _lock:
            pool = _pools.get(key)
            if pool is None:
                options = {
                    "max_connections": max_connections,
                    "socket_connect_timeout": 1.0 if timeout is None else timeout,
                    "socket_timeout": 5.0 if timeout is None else timeout,
                    "health_check_interval": 30,
                    "retry": Retry(NoBackoff(), 0),
                    "client_name": f"imaging-events-{os.getpid()}",
                }
                if not url.startswith("unix:"):  # the embedded Redis listens on a Unix socket
                    options["socket_keepalive"] = True
                pool = redis.ConnectionPool.from_url(url, **options)
                _pools[key] = pool
    return pool


_clients: dict[tuple, redis.Redis] = {}


def client(url: str, max_connections: int, timeout: float | None = None) -> redis.Redis:
    """The process's client on that pool (making a redis.Redis costs more than a PUBLISH)."""
    key = (os.getpid(), url, max_connections, timeout)
    found = _clients.get(key)
    if found is None or found.connection_pool is not _pools.get(key):
        found = _clients[key] = redis.Redis(connection_pool=connection_pool(url, max_connections, timeout))
    return found

