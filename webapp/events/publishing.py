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
from collections.abc import Callable
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


# How widely the open screens spread their re-fetches after an event (static/live.js waits a
# random 50 ms to spread_ms): about SPREAD_MS_PER_SCREEN for each open stream, between the
# bounds. An event's re-fetches cost the workers roughly that much CPU each (a shared answer a
# few ms, a render of a long list tens), so the spread keeps a burst from queueing on the cores
# for longer than the spread itself: a department's 83 screens got their answers 0.3-0.7 s late
# when they all asked within 250 ms, 0.2 s late spread over 0.83 s, and within 70 ms spread over
# 1.25 s (bench/README.md, "Department at peak").
SPREAD_MS_PER_SCREEN = 15
SPREAD_MS = (250, 1500)
_open_streams: dict[str, int] = {}  # by channel: as counted at this process's last publish


def spread_ms(channel: str) -> int:
    """The spread for the next event's re-fetches, from the open streams counted at this
    process's last publish (a new process starts at the least)."""
    wanted = _open_streams.get(channel, 0) * SPREAD_MS_PER_SCREEN
    return min(SPREAD_MS[1], max(SPREAD_MS[0], wanted))


def generation_key(channel: str) -> str:
    """The Redis counter of published event batches (webapp.web.live_cache keys renders by it)."""
    return f"{channel}:live-generation"


# pending key -> (to_signals, event_type); one set of session listeners serves them all.
_kinds: dict[str, tuple[Callable, str]] = {}
_TO_PUBLISH = "live_events:to_publish"


def publish_after_commit(pending_key: str, to_signals, event_type: str) -> None:
    """What a transaction queued in ``session.info[pending_key]`` becomes signals
    (``to_signals(session, rows)``) just before its commit, while the session may still read; they
    are published as ``event_type`` once the commit has succeeded, and dropped when it rolls back.
    Every kind a commit queued goes out together, in one call of publish_signals (one round trip)."""
    first = not _kinds
    _kinds[pending_key] = (to_signals, event_type)
    if not first:
        return

    def before_commit(session: Session) -> None:
        for key, (convert, kind) in list(_kinds.items()):
            pending = session.info.pop(key, None)
            if not pending:
                continue
            if any(getattr(row, "id", 0) is None for row in pending):
                session.flush()
            session.info.setdefault(_TO_PUBLISH, []).extend((kind, signal) for signal in convert(session, pending))

    def after_commit(session: Session) -> None:
        typed = session.info.pop(_TO_PUBLISH, None)
        if typed:
            publish_signals([signal for _, signal in typed], [kind for kind, _ in typed])

    def after_rollback(session: Session) -> None:
        for key in _kinds:
            session.info.pop(key, None)
        session.info.pop(_TO_PUBLISH, None)

    event.listen(db.session, "before_commit", before_commit)
    event.listen(db.session, "after_commit", after_commit)
    event.listen(db.session, "after_rollback", after_rollback)


def register_session_listeners() -> None:
    """Listen on ``db.session`` (once per process; the listeners serve every app)."""
    publish_after_commit(PENDING_EVENTS_KEY, _order_signals, EVENT_TYPE)


def publish_signals(signals: list[dict[str, Any]], event_type: str | list[str] = EVENT_TYPE) -> int:
    """Publish as flask-sse events of ``event_type`` (or of each signal's own type, a list) with an
    ``id:`` when the signal has an ``event_id``, all in one pipelined round trip that waits at most
    SSE_PUBLISH_TIMEOUT_SECONDS (webapp.events.stream): a frozen Redis holds the committed request
    that long, once, whatever the commit published. Returns how many went out. Never raises."""
    from flask_sse import Message

    from webapp.events import bp, slots

    types = [event_type] * len(signals) if isinstance(event_type, str) else list(event_type)
    try:
        if not bp.redis_url():
            return 0
        channel = current_app.config["SSE_CHANNEL"]
        spread = spread_ms(channel)
        pipe = bp.publisher.pipeline(transaction=False)
        # Live regions rendered before this commit are not to be served after it
        # (webapp.web.live_cache): the generation moves in the same round trip, before the events.
        pipe.incr(generation_key(channel))
        for kind, signal in zip(types, signals, strict=True):
            data = signal | {"spread_ms": spread} if kind == EVENT_TYPE else signal  # what re-fetches regions
            message = Message(data, type=kind, id=signal.get("event_id"))
            pipe.publish(channel, json.dumps(message.to_dict()))
        # The open streams, for the next event's spread: in the same round trip.
        slots.count_open(pipe, channel)
        _open_streams[channel] = int(pipe.execute()[-1])
        return len(signals)
    except Exception as exc:  # the commit has happened; the table keeps the event
        log.warning("live events not published (%s): %s; clients catch up on reconnect", type(exc).__name__, exc)
        return 0


def _replay_rows(last_event_id: int, limit: int) -> list[tuple[OrderEvent, ImagingOrder]]:
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
    return list(reversed(db.session.execute(statement).unique().all()))


def replay_signals(last_event_id: int, limit: int) -> list[dict[str, Any]]:
    """Events after ``last_event_id`` (plus the last moments' ones, see REPLAY_LOOKBACK), oldest first."""
    return [order_signal(row, order) for row, order in _replay_rows(last_event_id, limit)]


# Other event types that go with an order event (e.g. critical-result, webapp.reporting.live):
# each function takes the replayed (row, order) pairs and answers {event row id: [(type, signal)]},
# sent just before that row's order-changed event, as they were published.
REPLAY_COMPANIONS: list[Callable[[list[tuple[OrderEvent, ImagingOrder]]], dict[int, list[tuple[str, dict]]]]] = []


def replay_messages(last_event_id: int, limit: int) -> list:
    """What a stream coming back with ``Last-Event-ID`` is sent, oldest first, as flask-sse
    Messages: every order event after it (``replay_signals``) and what went with them (a
    critical result raised or acknowledged, without an ``id:``), so a short Redis outage loses
    nothing, critical results included."""
    from flask_sse import Message

    rows = _replay_rows(last_event_id, limit)
    companions: dict[int, list[tuple[str, dict]]] = {}
    for companion in REPLAY_COMPANIONS:
        for row_id, extra in companion(rows).items():
            companions.setdefault(row_id, []).extend(extra)
    messages = []
    for row, order in rows:
        messages.extend(Message(signal, type=event_type) for event_type, signal in companions.get(row.id, ()))
        messages.append(Message(order_signal(row, order), type=EVENT_TYPE, id=row.id))
    return messages


def latest_event_id() -> int:
    """The newest event id: a page rendered now has seen everything up to it."""
    return db.session.scalar(select(OrderEvent.id).order_by(OrderEvent.id.desc()).limit(1)) or 0
