"""The lock every order write takes first: the audit chain's advisory lock (PostgreSQL).

Kept apart from ``webapp.audit.chain`` (which imports the imaging models) so the imaging
services and queries can take it without an import circle. Why one lock first: see
``webapp.audit.chain``'s docstring (one lock order on every write path, so no deadlock).
"""

from __future__ import annotations

from flask import current_app, has_app_context
from sqlalchemy import text
from sqlalchemy.orm import Session, scoped_session

# Any fixed 64-bit number, the same in every process: the key of the chain's advisory lock.
CHAIN_LOCK_KEY = 0x6F72646572657674  # "orderevt"
# With the lock, in the same round trip: the transaction that holds it may not sit idle longer
# than DATABASE_IDLE_IN_TRANSACTION_TIMEOUT (default 0.6 × the statement timeout). A worker
# frozen while holding the chain (every order write waits for it) is ended by PostgreSQL and
# its lock released, so the writers queued behind it go on within their own statement timeout.
# Only the holders of the chain get this bound: other sessions keep the server's default.
_PG_LOCK_CHAIN = text(f"SELECT pg_advisory_xact_lock({CHAIN_LOCK_KEY}), "
                      "set_config('idle_in_transaction_session_timeout', :idle, true)")
_LOCKED_IN = "order_chain_locked_in"


def _idle_bound_ms() -> str:
    config = current_app.config if has_app_context() else {}
    idle = config.get("DATABASE_IDLE_IN_TRANSACTION_TIMEOUT")
    if idle is None:
        idle = 0.6 * float(config.get("DATABASE_STATEMENT_TIMEOUT", 5) or 0)
    return str(max(0, int(round(float(idle) * 1000))))


def lock_order_writes(session: Session | scoped_session) -> None:
    """Take the chain's lock now, before any other lock of an order write (see the module's
    docstring); held until the transaction ends. Once per transaction; SQLite: nothing to do
    (BEGIN IMMEDIATE serializes writers already)."""
    if isinstance(session, scoped_session):
        session = session()
    if session.get_bind().dialect.name != "postgresql":
        return
    transaction = session.get_transaction()
    if transaction is not None and session.info.get(_LOCKED_IN) is transaction:
        return
    session.execute(_PG_LOCK_CHAIN, {"idle": _idle_bound_ms()})
    session.info[_LOCKED_IN] = session.get_transaction()
