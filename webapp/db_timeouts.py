"""Bounds on every wait for PostgreSQL, so a database that stops answering costs a request a few
seconds (then a 503), not the whole stall.

``DATABASE_CONNECT_TIMEOUT`` bounds new connections only. A server that stops answering on an
open connection without closing it (a frozen host, a stalled proxy or network path) used to
hold every request until it came back. Three settings bound the rest:

* ``DATABASE_STATEMENT_TIMEOUT`` (seconds, default 5): PostgreSQL's own ``statement_timeout``,
  set for every connection. A statement that runs or waits for a lock longer is cancelled by
  the server (SQLSTATE 57014), the transaction rolls back, the request answers 503.
* ``DATABASE_SOCKET_TIMEOUT`` (seconds, default the statement timeout + 5): the longest the app
  waits for any answer (a statement, a commit) on an open connection. When it passes, the
  connection is closed and thrown away (the pool opens a new one for the next request) and the
  request answers 503. It only matters when the server cannot say anything at all, so it is
  longer than the statement timeout, which lets a live server cancel first.
* TCP keepalives and ``tcp_user_timeout`` (the socket timeout): a peer gone from the network is
  noticed by the kernel, also while the app is not reading. The server keeps alive its side too
  (``tcp_keepalives_*``, 30 s + 3 × 5 s instead of the system's 2 hours) and checks for a client
  gone mid-query (``client_connection_check_interval``).

The socket timeout is also the budget of a whole web request: the time it spends waiting for
PostgreSQL, all waits together (a liveness ping, then a statement, then a commit), is at most
``DATABASE_SOCKET_TIMEOUT`` (:func:`init_app`). Before, each wait had the whole timeout,
and two waits on a stalled server added up to twice the documented bound.

Two more bound what one stuck transaction can do to the others:

* ``DATABASE_IDLE_IN_TRANSACTION_TIMEOUT`` (seconds, default 0.6 × the statement timeout):
  PostgreSQL ends a transaction holding the audit chain's lock that sits idle longer (a worker
  frozen mid-write; set with the lock, ``webapp.audit.locking``); its locks go with it, so the
  writers queued behind it go on within their own statement timeout instead of all answering
  503 for as long as it is frozen. Other sessions are not bounded so.
* ``DATABASE_LOCK_TIMEOUT`` (seconds, default the statement timeout): the longest a statement
  waits for a lock; it stays when a migration lifts the statement timeout, which then lifts it
  too (:func:`unbounded`).

0 turns a timeout off. Work that legitimately runs longer (migrations; ``pg_dump`` and
``pg_restore`` use connections of their own) lifts both for one transaction with
:func:`unbounded`.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar

import psycopg
from psycopg import errors as pg_errors
from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine

WAIT_INTERVAL = 0.1  # psycopg's own: how often a wait wakes up (Ctrl-C)

# What the current web request may still spend waiting for PostgreSQL (None: no budget, each wait
# has the answer timeout). A list so that waits deep in the request can spend from it.
_budget: ContextVar[list[float] | None] = ContextVar("database_wait_budget", default=None)




class NoAnswer(psycopg.OperationalError):
    """PostgreSQL did not answer within the socket timeout; the connection was closed."""

    timed_out = True


class BoundedConnection(psycopg.Connection):
    """A psycopg connection whose every wait for the server ends after ``answer_timeout`` s."""

    answer_timeout: float | None = None

    def wait(self, gen, interval: float = WAIT_INTERVAL, timeout: float | None = None):
        bound = self.answer_timeout if timeout is None else timeout
        budget = _budget.get() if timeout is None else None
        if budget is not None:
            bound = budget[0] if bound is None else min(bound, budget[0])
        started = time.monotonic()
        try:
            if bound is not None and bound <= 0:
                raise pg_errors._WaitTimeout()
            return super().wait(gen, interval, bound)
        except pg_errors._WaitTimeout:
            if timeout is not None:  # psycopg's own bounded waits (cancel, notifies)
                raise
            # Mid-protocol, in an unknown state: the connection cannot be used again. Closed, it
            # is "broken" to SQLAlchemy, which discards it (and checks the rest of its pool).
            self.pgconn.finish()
            raise NoAnswer(f"PostgreSQL did not answer within {max(bound, 0):g} s; "
                           "the connection was closed") from None
        finally:
            if budget is not None:
                budget[0] -= time.monotonic() - started


def _milliseconds(seconds: float) -> int:
    return max(0, int(round(seconds * 1000)))


def connection_settings(config) -> tuple[dict, float | None]:
    """libpq parameters for new connections, and the answer timeout, from the app's config."""
    statement = float(config.get("DATABASE_STATEMENT_TIMEOUT", 0) or 0)
    socket_timeout = float(config.get("DATABASE_SOCKET_TIMEOUT", 0) or 0)
    lock = config.get("DATABASE_LOCK_TIMEOUT")
    lock = statement if lock is None else float(lock)
    params: dict = {
        "connect_timeout": int(config.get("DATABASE_CONNECT_TIMEOUT", 5) or 0),
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 5,
        "keepalives_count": 3,
    }
    # The server's side of the connection: keepalives and a check for a client gone mid-query.
    options = ["-c tcp_keepalives_idle=30", "-c tcp_keepalives_interval=5", "-c tcp_keepalives_count=3",
               "-c client_connection_check_interval=5000"]
    for name, seconds in (("statement_timeout", statement), ("lock_timeout", lock)):
        if seconds > 0:
            options.append(f"-c {name}={_milliseconds(seconds)}")
    params["options"] = " ".join(options)
    if socket_timeout > 0:
        params["tcp_user_timeout"] = _milliseconds(socket_timeout)
    return params, (socket_timeout if socket_timeout > 0 else None)


def configure_postgresql(engine: Engine, config) -> None:
    """Every new connection of ``engine`` gets the bounds (what the URL or connect_args set wins,
    except ``options``, which are combined)."""
    params, answer_timeout = connection_settings(config)

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect, _record, cargs, cparams):
        for name, value in params.items():
            if name == "options" and cparams.get("options"):
                cparams["options"] = f"{cparams['options']} {value}"
            else:
                cparams.setdefault(name, value)
        budget = _budget.get()
        if budget is not None:
            if budget[0] <= 0:  # the request spent its time waiting already: no new attempt
                raise NoAnswer("PostgreSQL did not answer within this request's time; not connecting again")
            cparams["connect_timeout"] = max(1, min(int(cparams.get("connect_timeout") or 0) or 10**6,
                                                    int(budget[0] + 0.999)))
        started = time.monotonic()
        try:
            connection = BoundedConnection.connect(*cargs, **cparams)
        finally:
            if budget is not None:
                budget[0] -= time.monotonic() - started
        connection.answer_timeout = answer_timeout
        return connection


def ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """SQLAlchemy's ``pool_pre_ping``, for connections that sat in the pool ``idle_seconds`` or
    more: a connection a request gave back a moment ago is not asked again whether it is alive.

    The ping is a round trip per checkout, one of the five of a shared live answer (with the
    user, the event head, the access-log row and its commit, bench/README.md); a burst of live
    re-fetches checks out the pool's connections again a few seconds after the last one. A server
    restarted meanwhile fails the next use of such a connection; SQLAlchemy then discards the
    pool's older connections, and a read runs again on a new one (webapp.db_retry).
    """
    if engine.pool._pre_ping or idle_seconds <= 0:
        return

    @event.listens_for(engine, "connect")
    def _opened(_dbapi_connection, record):
        record.info["returned_at"] = time.monotonic()  # new: alive, as pre_ping assumes too

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection, record):
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection, record, _proxy):
        returned = record.info.get("returned_at")
        if returned is not None and time.monotonic() - returned < idle_seconds:
            return
        # As pool_pre_ping does: a ping that finds the connection gone invalidates the pool's
        # older connections and the pool checks out another (sqlalchemy.pool.base).
        if not engine.dialect._do_ping_w_event(dbapi_connection):
            raise sa_exc.InvalidatePoolError()


@contextmanager
def unbounded(connection: Connection):
    """Lift the statement and socket timeouts for the current transaction of ``connection``
    (a long migration). Both come back when the block ends (``SET LOCAL`` ends with the
    transaction)."""
    if connection.dialect.name != "postgresql":
        yield
        return
    dbapi = connection.connection.dbapi_connection
    previous = getattr(dbapi, "answer_timeout", None)
    connection.execute(text("SET LOCAL statement_timeout = 0"))
    connection.execute(text("SET LOCAL lock_timeout = 0"))
    connection.execute(text("SET LOCAL idle_in_transaction_session_timeout = 0"))
    if isinstance(dbapi, BoundedConnection):
        dbapi.answer_timeout = None
    try:
        yield
    finally:
        if isinstance(dbapi, BoundedConnection):
            dbapi.answer_timeout = previous


# Endpoints that hold their request open for minutes (the live stream): each of their waits
# keeps its own bound instead of a budget for the whole request.
LONG_LIVED_ENDPOINTS = frozenset({"events.stream"})


def init_app(app) -> None:
    """Give every web request one budget for its waits on PostgreSQL (``DATABASE_SOCKET_TIMEOUT``)."""
    from flask import g, request

    seconds = float(app.config.get("DATABASE_SOCKET_TIMEOUT", 0) or 0)
    if seconds <= 0:
        return

    @app.before_request
    def _start_budget():
        if request.endpoint not in LONG_LIVED_ENDPOINTS:
            g.database_budget = _budget.set([seconds])

    @app.teardown_request
    def _end_budget(_error=None):
        token = g.pop("database_budget", None)
        if token is not None:
            _budget.reset(token)
