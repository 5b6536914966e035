"""Publish order events after their transaction commits, and replay them from the database.

The service layer appends an ``OrderEvent`` row for every change and queues it in
``db.session.info["pending_order_events"]``. These session listeners turn the queued rows
into signals just before the commit (while the session may still read), publish them once the
commit has succeeded, and drop them when the transaction rolls back. A Redis outage never
breaks the request: the change is committed, the event row is in the table, and streams that
reconnect with ``Last-Event-ID`` get it from there.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import event, or_, select
from sqlalchemy.orm import Session

from webapp.db_types import utcnow
from webapp.extensions import db
from webapp.imaging.models import ImagingOrder, OrderEvent
from webapp.imaging.services import PENDING_EVENTS_KEY

log = logging.getLogger(__name__)

EVENT_TYPE = "order-changed"
# On PostgreSQL event ids come from a sequence, so a transaction that took id 10 may commit
# after one that took id 11. A reconnecting client that saw 11 also gets the events of the
# last moments again (signals are idempotent: a page just re-fetches). SQLite writers queue
# (BEGIN IMMEDIATE), so there ids follow commit order and nothing is sent twice.
REPLAY_LOOKBACK = timedelta(seconds=15)


def _before(row: OrderEvent, name: str, now: Any) -> Any:
    """The value of ``name`` before the event: from the event's changes, else as it is now."""
    change = (row.changes or {}).get(name)
    return change.get("from") if isinstance(change, dict) and "from" in change else now


def order_signal(row: OrderEvent, order: ImagingOrder) -> dict[str, Any]:
    """What an event says: which order changed, from what to what, and in which event. No
    patient data. The ``from_*`` values (None for a new order's status) let a page skip events
    that cannot touch what it shows (static/live.js, ``data-live-filter``): a list of scheduled
    CT orders must still hear of the order that leaves it for in progress, or for MR."""
    return {
        "id": str(order.id),
        "accession_number": order.accession_number,
        "status": row.to_status or order.status,
        "from_status": row.from_status,
        "version": row.order_version,
        "event_id": row.id,
        "patient_id": str(order.patient_id),
        "visit_id": str(order.visit_id),
        "modality": order.modality,
        "from_modality": _before(row, "modality", order.modality),
        "priority": order.priority,
        "from_priority": _before(row, "priority", order.priority),
    }


def _order_signals(session: Session, pending: list[OrderEvent]) -> list[dict[str, Any]]:
    signals = []
    for row in pending:
        order = row.order if row.order is not None else session.get(ImagingOrder, row.order_id)
        signals.append(order_signal(row, order))
    return signals


def generation_key(channel: str) -> str:
    """The Redis counter of published event batches (webapp.web.live_cache keys renders by it)."""
    return f"{channel}:live-generation"


_registered: set[str] = set()


def publish_after_commit(pending_key: str, to_signals, event_type: str) -> None:
    """Session listeners (once per process and key): what a transaction queued in
    ``session.info[pending_key]`` becomes signals (``to_signals(session, rows)``) just before its
    commit, while the session may still read; they are published as ``event_type`` once the
    commit has succeeded, and dropped when it rolls back."""
    if pending_key in _registered:
        return
    to_publish = f"{pending_key}:to_publish"

    def before_commit(session: Session) -> None:
        pending = session.info.pop(pending_key, None)
        if not pending:
            return
        if any(row.id is None for row in pending):
            session.flush()
        session.info.setdefault(to_publish, []).extend(to_signals(session, pending))

    def after_commit(session: Session) -> None:
        signals = session.info.pop(to_publish, None)
        if signals:
            publish_signals(signals, event_type)

    def after_rollback(session: Session) -> None:
        session.info.pop(pending_key, None)
        session.info.pop(to_publish, None)

    event.listen(db.session, "before_commit", before_commit)
    event.listen(db.session, "after_commit", after_commit)
    event.listen(db.session, "after_rollback", after_rollback)
    _registered.add(pending_key)


def register_session_listeners() -> None:
    """Listen on ``db.session`` (once per process; the listeners serve every app)."""
    publish_after_commit(PENDING_EVENTS_KEY, _order_signals, EVENT_TYPE)


def publish_signals(signals: list[dict[str, Any]], event_type: str = EVENT_TYPE) -> int:
    """Publish as flask-sse events of ``event_type`` (an ``id:`` when the signal has an
    ``event_id``), in one round trip that waits at most SSE_PUBLISH_TIMEOUT_SECONDS
    (webapp.events.stream); returns how many went out. Never raises."""
    from flask_sse import Message

    from webapp.events import bp

    try:
        if not bp.redis_url():
            return 0
        channel = current_app.config["SSE_CHANNEL"]
        pipe = bp.publisher.pipeline(transaction=False)
        # Live regions rendered before this commit are not to be served after it
        # (webapp.web.live_cache): the generation moves in the same round trip, before the events.
        pipe.incr(generation_key(channel))
        for signal in signals:
            message = Message(signal, type=event_type, id=signal.get("event_id"))
            pipe.publish(channel, json.dumps(message.to_dict()))
        pipe.execute()
        return len(signals)
    except Exception as exc:  # the commit has happened; the table keeps the event
        log.warning("live events not published (%s): %s; clients catch up on reconnect", type(exc).__name__, exc)
        return 0


def replay_signals(last_event_id: int, limit: int) -> list[dict[str, Any]]:
    """Events after ``last_event_id`` (plus the last moments' ones, see REPLAY_LOOKBACK), oldest first."""
    condition = OrderEvent.id > last_event_id
    if db.session.get_bind().dialect.name != "sqlite":
        condition = or_(condition, OrderEvent.created_at >= utcnow() - REPLAY_LOOKBACK)
    statement = (
        select(OrderEvent, ImagingOrder)
        .join(ImagingOrder, ImagingOrder.id == OrderEvent.order_id)
        .where(condition)
        .order_by(OrderEvent.id.desc())
        .limit(limit)
    )
    rows = db.session.execute(statement).unique().all()
    return [order_signal(row, order) for row, order in reversed(rows)]


def latest_event_id() -> int:
    """The newest event id: a page rendered now has seen everything up to it."""
    return db.session.scalar(select(OrderEvent.id).order_by(OrderEvent.id.desc()).limit(1)) or 0
