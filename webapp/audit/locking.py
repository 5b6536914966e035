"""The lock every order write takes first: the audit chain's advisory lock (PostgreSQL).

Kept apart from ``webapp.audit.chain`` (which imports the imaging models) so the imaging
services and queries can take it without an import circle. Why one lock first: see
``webapp.audit.chain``'s docstring (one lock order on every write path, so no deadlock).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session, scoped_session

# Any fixed 64-bit number, the same in every process: the key of the chain's advisory lock.
CHAIN_LOCK_KEY = 0x6F72646572657674  # "orderevt"
_PG_LOCK_CHAIN = text(f"SELECT pg_advisory_xact_lock({CHAIN_LOCK_KEY})")
_LOCKED_IN = "order_chain_locked_in"


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
    session.execute(_PG_LOCK_CHAIN)
    session.info[_LOCKED_IN] = session.get_transaction()
