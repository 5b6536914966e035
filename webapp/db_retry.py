"""Run a transaction again when PostgreSQL gave it up to a deadlock or a serialization failure.

Every order-writing transaction takes its locks in one order (webapp.audit.chain), so deadlocks
should not happen; this is the safety net for the paths nobody foresaw. PostgreSQL answers such
a conflict with SQLSTATE 40P01 (deadlock detected) or 40001 (serialization failure), after
rolling the losing transaction back completely: running the whole unit of work again is safe.

* HTTP requests: the view (parsing, the service call, the commit) runs again, up to
  ``DATABASE_RETRY_ATTEMPTS`` times in all, after a short random pause. The request body is
  read once (Flask keeps it), so the second run sees the same input.
* Work outside requests (the DICOM MPPS service) uses :func:`run_in_transaction`.
* A read (GET, HEAD) whose pooled connection turned out to be gone (PostgreSQL restarted while
  it sat in the pool, unpinged: ``DATABASE_PING_IDLE_SECONDS``) runs once more, on a new one.

Nothing of a lost attempt survives it: its rows, its ``Idempotency-Key`` row and its numbers
were rolled back by PostgreSQL, and the rollback drops the events it queued for publishing
(webapp.events.publishing), so only the attempt that commits publishes.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from flask import Flask, current_app, has_app_context
from sqlalchemy import exc as sa_exc

from webapp.extensions import SAFE_METHODS, db

log = logging.getLogger(__name__)

RETRIED_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure
DEFAULT_ATTEMPTS = 4
BASE_PAUSE_SECONDS = 0.02

T = TypeVar("T")


def is_lock_conflict(error: BaseException) -> bool:
    """True for a deadlock or serialization failure (the transaction was rolled back)."""
    while error is not None:
        if getattr(error, "sqlstate", None) in RETRIED_SQLSTATES:
            return True
        orig = getattr(error, "orig", None)
        if orig is not None and getattr(orig, "sqlstate", None) in RETRIED_SQLSTATES:
            return True
        error = error.__cause__ if error.__cause__ is not None else None
    return False


def _attempts() -> int:
    if has_app_context():
        return max(1, int(current_app.config.get("DATABASE_RETRY_ATTEMPTS", DEFAULT_ATTEMPTS)))
    return DEFAULT_ATTEMPTS


def _pause(attempt: int) -> None:
    """A random pause that grows with each attempt (20-40 ms, 40-80 ms, ...): the two sides of a
    conflict do not meet again at the same moment."""
    base = BASE_PAUSE_SECONDS * (2 ** (attempt - 1))
    time.sleep(base + random.uniform(0, base))


def is_stale_connection(error: BaseException) -> bool:
    """True when the pool's connection turned out to be gone (SQLAlchemy invalidated it, and the
    pool's older connections with it): the server restarted while the connection sat in the pool
    unpinged (webapp.db_timeouts.ping_when_idle)."""
    return isinstance(error, sa_exc.DBAPIError) and bool(error.connection_invalidated)


def run_in_transaction(work: Callable[[], T], what: str = "transaction", reads_only: bool = False) -> T:
    """Call ``work()`` (which commits), again after a rollback when it lost a lock conflict; and
    once more when ``reads_only`` work met a connection that was gone (a read is safe to repeat)."""
    attempts = _attempts()
    attempt = 1
    while True:
        try:
            return work()
        except sa_exc.DBAPIError as error:
            if reads_only and attempt == 1 and is_stale_connection(error):
                db.session.rollback()
                log.warning("%s met a closed database connection; running it again on a new one", what)
                attempt += 1
                continue
            if attempt >= attempts or not is_lock_conflict(error):
                raise
            db.session.rollback()
            log.warning("%s lost a lock conflict (%s); running it again (attempt %d of %d)",
                        what, getattr(getattr(error, "orig", None), "sqlstate", "?"), attempt + 1, attempts)
            _pause(attempt)
            attempt += 1


def install(app: Flask) -> None:
    """Every request's view runs through :func:`run_in_transaction`."""
    dispatch = app.dispatch_request

    @functools.wraps(dispatch)
    def dispatch_retrying():
        from flask import request

        return run_in_transaction(dispatch, f"{request.method} {request.path}",
                                  reads_only=request.method in SAFE_METHODS)

    app.dispatch_request = dispatch_retrying
