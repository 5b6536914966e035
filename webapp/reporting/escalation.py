"""Escalating a critical result nobody acknowledged within CRITICAL_ACK_MINUTES.

Who notices the deadline: the outbox dispatcher (``flask outbox run``, which ``make run`` starts
and supervises, webapp/children.py). Each round begins with :func:`escalate_due`, so an
escalation's notifications are delivered in the same round, by the code that already retries and
dead-letters. No second background process, no second schedule to keep alive.

An escalation, in one transaction per critical result:

1. the order writers' lock (webapp.audit.locking, taken by ``queries.get_order(for_update=True)``);
2. ``UPDATE critical_results SET escalated_at = now WHERE id = … AND escalated_at IS NULL AND
   acknowledged_at IS NULL``: only the transaction whose update changed the row goes on. With
   several dispatchers (several hosts) the others wait on the lock and then change nothing
   (PostgreSQL re-reads the row under READ COMMITTED; SQLite writers queue), so each result is
   escalated once; one acknowledged in the meantime is not escalated at all;
3. the order's ``critical_escalated`` event (its timeline; order-changed on /stream, so the
   dashboard and the wall re-fetch), the outbox rows (webapp.outbox.notify: webhook, e-mail) and a
   ``critical-result`` signal for the doctor's banner (webapp.reporting.live, after the commit).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from webapp.db_types import utcnow
from webapp.extensions import db, writing
from webapp.imaging import queries, services
from webapp.outbox import notify
from webapp.reporting.critical import PENDING_KEY, ack_minutes
from webapp.reporting.models import CriticalResult

ESCALATION_ACTOR = services.Actor(role="system", label="Critical result escalation")
BATCH = 50


def due_ids(now: datetime, limit: int = BATCH) -> list[int]:
    """Open critical results past CRITICAL_ACK_MINUTES and not escalated yet, oldest first."""
    cutoff = now - timedelta(minutes=ack_minutes())
    return list(db.session.scalars(
        select(CriticalResult.id)
        .where(CriticalResult.acknowledged_at.is_(None), CriticalResult.escalated_at.is_(None),
               CriticalResult.raised_at <= cutoff)
        .order_by(CriticalResult.raised_at, CriticalResult.id).limit(limit)
    ))


def escalate_due(now: datetime | None = None, limit: int = BATCH) -> list[int]:
    """Escalate every due critical result (each in its own transaction); the ids escalated here."""
    now = now or utcnow()
    candidates = due_ids(now, limit)
    db.session.rollback()  # an idle round holds no transaction (and no SQLite write lock)
    escalated = []
    for critical_id in candidates:
        with writing():
            try:
                if _escalate(critical_id, now):
                    escalated.append(critical_id)
                db.session.commit()
            except Exception:
                db.session.rollback()
                raise
    return escalated


def _escalate(critical_id: int, now: datetime) -> bool:
    order_id = db.session.scalar(select(CriticalResult.order_id).where(CriticalResult.id == critical_id))
    order = queries.get_order(order_id, for_update=True)  # the order writers' lock first
    changed = db.session.execute(
        update(CriticalResult)
        .where(CriticalResult.id == critical_id, CriticalResult.escalated_at.is_(None),
               CriticalResult.acknowledged_at.is_(None))
        .values(escalated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        return False  # acknowledged meanwhile, or another dispatcher escalated it
    result = db.session.get(CriticalResult, critical_id, populate_existing=True)
    channels = notify.configured_channels(current_app.config)
    event = services.record_critical_escalated(ESCALATION_ACTOR, order, {
        "critical_result": result.id, "note": result.note, "ack_minutes": ack_minutes(), "notified": channels,
    }, at=now)
    db.session.add_all(notify.escalation_rows(order, notification_body(order, result), event))
    db.session.info.setdefault(PENDING_KEY, []).append(result)
    db.session.flush()
    return True


def notification_body(order, result: CriticalResult) -> dict:
    """What the webhook receives (and the e-mail says): the contract's fields and whom it concerns."""
    patient, doctor = order.patient, order.ordering_doctor
    return {
        "event": notify.EVENT_NAME,
        "critical_result_id": result.id,
        "order_id": str(order.id),
        "accession_number": order.accession_number,
        "procedure": order.description,
        "patient": {"name": patient.full_name, "mrn": patient.mrn},
        "note": result.note,
        "ordering_doctor": {"name": doctor.display_name, "username": doctor.username} if doctor else None,
        "raised_by": result.raised_by_label,
        "raised_at": result.raised_at.isoformat(),
        "escalated_at": result.escalated_at.isoformat(),
        "ack_minutes": ack_minutes(),
    }
