"""Outbox rows for new order events, added in the same flush as the event (same transaction).

Every change to an order appends an OrderEvent (webapp.imaging.services.record_event), whatever
road it came by: pages, the API, the tablet, MPPS, HL7 in. This ``before_flush`` listener turns
each new event that a receiver must hear about (webapp.hl7.mapping.HL7_MESSAGES) into one row per
HL7_OUTBOUND receiver, holding the order's snapshot. A rolled-back transaction loses the rows
with the change, so nothing is sent; a committed one keeps them until they are delivered.
"""

from __future__ import annotations

from flask import current_app, has_app_context
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from webapp.hl7.mapping import HL7_MESSAGES
from webapp.hl7.snapshot import order_snapshot
from webapp.imaging.models import ImagingOrder, OrderEvent
from webapp.outbox.models import OutboxMessage


def _destinations() -> list[str]:
    return list(current_app.config.get("HL7_OUTBOUND") or []) if has_app_context() else []


def _order(session: Session, order_id) -> ImagingOrder | None:
    """The event's order: a new one is not in the identity map yet."""
    for obj in session.new:
        if isinstance(obj, ImagingOrder) and obj.id == order_id:
            return obj
    return session.get(ImagingOrder, order_id)


def messages_for(session: Session, new_event: OrderEvent, destinations: list[str]) -> list[OutboxMessage]:
    kind = HL7_MESSAGES.get(new_event.event_type)
    if kind is None:
        return []
    order = _order(session, new_event.order_id)
    payload = order_snapshot(session, order, new_event)
    return [
        OutboxMessage(
            order_id=order.id, channel="hl7", destination=destination, event_type=new_event.event_type,
            order_version=new_event.order_version, kind=" ".join(kind), payload=payload, state="pending",
            attempts=0, next_attempt_at=new_event.created_at, created_at=new_event.created_at,
        )
        for destination in destinations
    ]


@event.listens_for(Session, "before_flush")
def _write_outbox(session: Session, _flush_context, _instances) -> None:
    new_events = [obj for obj in session.new if isinstance(obj, OrderEvent)]
    if not new_events:
        return
    destinations = _destinations()
    if not destinations:
        return
    new_events.sort(key=lambda obj: inspect(obj).insert_order)
    with session.no_autoflush:
        for new_event in new_events:
            session.add_all(messages_for(session, new_event, destinations))
