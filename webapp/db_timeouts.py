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
  noticed by the kernel, also while the app is not reading.

0 turns a timeout off. Work that legitimately runs longer (migrations; ``pg_dump`` and
``pg_restore`` use connections of their own) lifts both for one transaction with
:func:`unbounded`.
"""

from __future__ import annotations

from contextlib import contextmanager

import psycopg
from psycopg import errors as pg_errors
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine

WAIT_INTERVAL = 0.1  # psycopg's own: how often a wait wakes up (Ctrl-C)


class NoAnswer(psycopg.OperationalError):
    """PostgreSQL did not answer within the socket timeout; the connection was closed."""

    timed_out = True


class BoundedConnection(psycopg.Connection):
    """A psycopg connection whose every wait for the server ends after ``answer_timeout`` s."""

    answer_timeout: float | None = None

    def wait(self, gen, interval: float = WAIT_INTERVAL, timeout: float | None = None):
        bound = self.answer_timeout if timeout is None else timeout
        try:
            return super().wait(gen, interval, bound)
        except pg_errors._WaitTimeout:
            if timeout is not None:  # psycopg's own bounded waits (cancel, notifies)
                raise
            # Mid-protocol, in an unknown state: the connection cannot be used again. Closed, it
            # is "broken" to SQLAlchemy, which discards it (and checks the rest of its pool).
            self.pgconn.finish()
            raise NoAnswer(f"PostgreSQL did not answer within {bound:g} s; the connection was closed") from None


def _milliseconds(seconds: float) -> int:
    return max(0, int(round(seconds * 1000)))


def connection_settings(config) -> tuple[dict, float | None]:
    """libpq parameters for new connections, and the answer timeout, from the app's config."""
    statement = float(config.get("DATABASE_STATEMENT_TIMEOUT", 0) or 0)
    socket_timeout = float(config.get("DATABASE_SOCKET_TIMEOUT", 0) or 0)
    params: dict = {
        "connect_timeout": int(config.get("DATABASE_CONNECT_TIMEOUT", 5) or 0),
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 5,
        "keepalives_count": 3,
    }
    if statement > 0:
        params["options"] = f"-c statement_timeout={_milliseconds(statement)}"
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
        connection = BoundedConnection.connect(*cargs, **cparams)
        connection.answer_timeout = answer_timeout
        return connection


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
    if isinstance(dbapi, BoundedConnection):
        dbapi.answer_timeout = None
    try:
        yield
    finally:
        if isinstance(dbapi, BoundedConnection):
            dbapi.answer_timeout = previous
