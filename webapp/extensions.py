"""Extensions as module globals, bound to the app in create_app() with init_app()."""

from __future__ import annotations

import contextvars
from contextlib import contextmanager

from flask import has_request_context, request
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

from webapp.bodyread import BodyTimeout, buffer_body, timeout_response

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_write_intent: contextvars.ContextVar[bool] = contextvars.ContextVar("write_intent", default=False)


@contextmanager
def writing():
    """Mark work outside an HTTP write request (CLI, DICOM service, scripts) as a writer.

    On SQLite its transactions then start with BEGIN IMMEDIATE, like POST/PUT/PATCH/DELETE
    requests do, so concurrent writers queue on the lock instead of failing with
    "database is locked" when a read transaction tries to become a write transaction.
    """
    token = _write_intent.set(True)
    try:
        yield
    finally:
        _write_intent.reset(token)


def commit_keeping_state() -> None:
    """Commit ``db.session`` without expiring what it holds.

    A commit normally expires every loaded object, so the next attribute read goes back to the
    database. Code that answers from objects it has just flushed (all values set in Python, no
    database defaults or triggers changing them) commits this way and reads them afterwards:
    the locks the transaction holds are released before the answer is built, not after.
    """
    session = db.session()
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire


def end_read_transaction() -> bool:
    """End ``db.session``'s transaction when it has nothing of its own to write (its connection
    goes back to the pool, and the next statement reads from a new snapshot), keeping what it
    loaded. False, and nothing ended, when the session holds changes."""
    session = db.session()
    if session.new or session.dirty or session.deleted:
        return False
    if session.in_transaction():
        commit_keeping_state()
    return True


def _wants_write_lock() -> bool:
    if _write_intent.get():
        return True
    return has_request_context() and request.method not in SAFE_METHODS


def configure_sqlite(engine: Engine) -> None:
    """WAL, a busy timeout, foreign keys, and BEGIN IMMEDIATE for writers.

    pysqlite's own transaction handling is switched off so that SQLAlchemy's "begin"
    event decides how each transaction starts (SQLAlchemy's documented recipe).
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE" if _wants_write_lock() else "BEGIN")


class BodyReadFirst:
    """WSGI middleware: a writing request's body is read in full before the app sees it.

    A writing request on SQLite holds the database's write lock from its first query (BEGIN
    IMMEDIATE, above) until it commits. Under gevent, a greenlet that waited for the rest of its
    body inside that transaction (the API reads the body after the bearer token's user is
    looked up; forms after the session's user is loaded) would let another greenlet of the same
    worker run; if that one began writing, it would wait in SQLite's busy handler, which blocks
    the whole process, so the first greenlet could never finish: the worker stalls until the
    busy timeout or gunicorn's worker timeout. With the body in memory first, nothing inside a
    transaction waits on the network. Bodies over ``limit`` (answered 413 by the app) are left
    to the app. The body must arrive within ``timeout`` seconds, else 408 (webapp/bodyread.py).
    """

    def __init__(self, wsgi_app, limit: int | None, timeout: float | None = None) -> None:
        self.wsgi_app = wsgi_app
        self.limit = limit
        self.timeout = timeout

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD", "GET") not in SAFE_METHODS:
            try:
                buffer_body(environ, self.limit, self.timeout)
            except BodyTimeout:
                return timeout_response(environ, start_response, self.timeout)
        return self.wsgi_app(environ, start_response)
