"""The hash chain over the order event table, and its verification.

Each OrderEvent row stores ``prev_hash`` (the ``row_hash`` of the row before it) and
``row_hash = sha256(prev_hash + canonical row content, id included)``. Changing, removing or
inserting a row anywhere breaks the chain from that row on, which ``flask --app wsgi audit
verify`` reports. The hash is keyless: it proves the log was not quietly edited, not who wrote
it; someone able to rewrite the whole table could recompute it, so keep the head hash that
``audit verify`` prints (a backup keeps it too) to compare later.

Appending must be serialized or two writers would both chain onto the same head:

* PostgreSQL: ``pg_advisory_xact_lock`` before reading the head, held until the transaction
  ends, so the next writer reads the head only after this one committed or rolled back. Ids
  come from the table's own sequence, taken under the lock, so id order is chain order. The
  lock, the head and the ids come from one function call (``order_events_chain_next``,
  created by the migrations), one round trip while every other writer waits.
* SQLite: every writing transaction starts with BEGIN IMMEDIATE (webapp.extensions), so
  writers are serialized already; the id is the head's id + 1.

The hook runs in ``before_flush`` for every OrderEvent added to a session, so nothing can
append an event without sealing it. It also refuses to flush a changed or deleted event.

One lock order for every order-writing transaction (PostgreSQL): the chain's lock comes FIRST,
before the order's row, the year's counter and the ``order_status_counts`` rows (the triggers).
Every order change appends an event, so it needs the chain's lock anyway; taken last (when the
event was flushed) it made a create (counter, chain, then a counts row) and a status change
(order row, counts rows, then the chain) wait on each other: a deadlock. So
:func:`lock_order_writes` takes it at the start: ``queries.get_order(for_update=True)`` before
the row lock, ``create_order`` before the counter, and ``before_flush`` whenever an order is
new or changed (paths that read the order without locking it). Once per transaction.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, func, inspect, select, text
from sqlalchemy.orm import Session

from webapp.audit.locking import CHAIN_LOCK_KEY, lock_order_writes
from webapp.imaging.models import ImagingOrder, OrderEvent

GENESIS_HASH = "0" * 64
HASHED_FIELDS = (
    "id", "order_id", "event_type", "from_status", "to_status", "order_version", "actor_id",
    "actor_label", "actor_role", "created_at", "changes", "note",
)


class AppendOnlyViolation(RuntimeError):
    """Raised when code tries to change or delete an audit row through the session."""


def _canonical(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return value


def event_hash(prev_hash: str, values: Mapping[str, Any]) -> str:
    """The row hash of an event whose column values are ``values`` and whose predecessor is ``prev_hash``."""
    payload = [prev_hash] + [_canonical(values.get(name)) for name in HASHED_FIELDS]
    data = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def _values(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in HASHED_FIELDS}


# PostgreSQL: take the chain's lock, then read the head and new ids, in one round trip. Each
# statement of a VOLATILE PL/pgSQL function takes a fresh snapshot (READ COMMITTED), so the head
# is read after the lock is held and sees what the previous holder committed. Ids come from the
# table's sequence under the lock, ascending, so id order is chain order.
CHAIN_FUNCTION = "order_events_chain_next"
_PG_CHAIN_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {CHAIN_FUNCTION}(how_many integer)
RETURNS TABLE (head_hash varchar, next_id bigint) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    head varchar;
BEGIN
    PERFORM pg_advisory_xact_lock({CHAIN_LOCK_KEY});
    SELECT e.row_hash INTO head FROM order_events e ORDER BY e.id DESC LIMIT 1;
    RETURN QUERY SELECT head, nextval(pg_get_serial_sequence('order_events', 'id'))
        FROM generate_series(1, how_many);
END
$$
"""
_PG_HEAD_AND_IDS = text(f"SELECT head_hash, next_id FROM {CHAIN_FUNCTION}(:count)")


def install_chain_function(connection) -> None:
    """Create (or replace) the PostgreSQL function above; nothing to do on SQLite."""
    if connection.dialect.name == "postgresql":
        connection.execute(text(_PG_CHAIN_FUNCTION))


def drop_chain_function(connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"DROP FUNCTION IF EXISTS {CHAIN_FUNCTION}(integer)"))


@event.listens_for(OrderEvent.__table__, "after_create")
def _install_on_create(_target, connection, **_kw) -> None:
    install_chain_function(connection)  # db.create_all() (the tests); the migrations do it too


def _head_and_ids(session: Session, count: int) -> tuple[str, list[int]]:
    """Lock the chain until this transaction ends; the head's hash and ``count`` ids for new rows.

    PostgreSQL: one call of the function above. SQLite: writers are serialized already (BEGIN
    IMMEDIATE); the ids are the head's id + 1, + 2, ...
    """
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(_PG_HEAD_AND_IDS, {"count": count}).all()
        return rows[0].head_hash or GENESIS_HASH, sorted(row.next_id for row in rows)
    row = session.execute(
        select(OrderEvent.id, OrderEvent.row_hash).order_by(OrderEvent.id.desc()).limit(1)
    ).first()
    head_id, head_hash = (row.id, row.row_hash) if row else (0, GENESIS_HASH)
    return head_hash, [head_id + n for n in range(1, count + 1)]


def _writes_orders(session: Session) -> bool:
    if any(isinstance(obj, (ImagingOrder, OrderEvent)) for obj in session.new):
        return True
    return any(
        isinstance(obj, ImagingOrder) and session.is_modified(obj, include_collections=False)
        for obj in session.dirty
    )


def seal_events(session: Session, events: list[OrderEvent]) -> None:
    """Give new events their ids and hashes, chained onto the current head, in the given order."""
    with session.no_autoflush:
        prev_hash, ids = _head_and_ids(session, len(events))
        for item, new_id in zip(events, ids, strict=True):
            if item.changes is None:
                item.changes = {}
            if item.created_at is None:
                item.created_at = datetime.now(UTC)
            item.id = new_id
            item.prev_hash = prev_hash
            item.row_hash = prev_hash = event_hash(prev_hash, _values(item))


@event.listens_for(Session, "before_flush")
def _seal_new_events(session: Session, _flush_context, _instances) -> None:
    for obj in session.deleted:
        if isinstance(obj, OrderEvent):
            raise AppendOnlyViolation("Order events are never deleted.")
    for obj in session.dirty:
        if isinstance(obj, OrderEvent) and session.is_modified(obj, include_collections=False):
            raise AppendOnlyViolation("Order events are never changed.")
    if _writes_orders(session):
        with session.no_autoflush:
            lock_order_writes(session)
    new = [obj for obj in session.new if isinstance(obj, OrderEvent)]
    if new:
        new.sort(key=lambda obj: inspect(obj).insert_order)
        seal_events(session, new)


# ---------------------------------------------------------------------------- verification


@dataclass
class VerifyResult:
    checked: int = 0
    head_id: int | None = None
    head_hash: str = GENESIS_HASH
    broken_id: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _rows(session: Session, batch: int = 2000) -> Iterator[Any]:
    """Every event in id order, in batches (keyset), without loading ORM objects."""
    columns = [getattr(OrderEvent, name) for name in HASHED_FIELDS] + [OrderEvent.prev_hash, OrderEvent.row_hash]
    last = 0
    while True:
        rows = session.execute(
            select(*columns).where(OrderEvent.id > last).order_by(OrderEvent.id).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].id


def verify_chain(session: Session) -> VerifyResult:
    """Walk the chain from the first event; stop at the first link that does not hold.

    Then check that each order's version is covered by its events (every change writes one
    event carrying the new version), which catches events cut off the end of the chain.
    """
    result = VerifyResult()
    prev_hash = GENESIS_HASH
    for row in _rows(session):
        if row.prev_hash != prev_hash:
            result.broken_id = row.id
            result.problem = (
                f"event {row.id} does not follow event {result.head_id or '(start)'}: "
                "an event between them was removed, inserted or changed"
            )
            return result
        expected = event_hash(prev_hash, row._mapping)
        if row.row_hash != expected:
            result.broken_id = row.id
            result.problem = f"event {row.id} was changed after it was written (its hash does not match its content)"
            return result
        prev_hash = row.row_hash
        result.checked += 1
        result.head_id, result.head_hash = row.id, row.row_hash

    covered = (
        select(OrderEvent.order_id, func.count().label("events"), func.max(OrderEvent.order_version).label("last"))
        .group_by(OrderEvent.order_id)
        .subquery()
    )
    mismatch = session.execute(
        select(ImagingOrder.accession_number, ImagingOrder.version, covered.c.events, covered.c.last)
        .join(covered, covered.c.order_id == ImagingOrder.id, isouter=True)
        .where(
            covered.c.last.is_(None)
            | (covered.c.last != ImagingOrder.version)
            | (covered.c.events != ImagingOrder.version)
        )
        .order_by(ImagingOrder.accession_number)
        .limit(1)
    ).first()
    if mismatch is not None:
        result.problem = (
            f"order {mismatch.accession_number} is at version {mismatch.version} but has "
            f"{mismatch.events or 0} events up to version {mismatch.last or 0}: each change must have one event"
        )
    return result
