"""Critical results: raised with a signed report or an addendum, acknowledged by the ordering
doctor (or another doctor or an administrator on their behalf), overdue after
CRITICAL_ACK_MINUTES, and then escalated once (webapp.reporting.escalation).

Raising and acknowledging happen inside order actions (webapp.imaging.steps: ``report``,
``addendum``, ``acknowledge``), so each is an audited order event. Each also queues the critical
result in the session; after the commit it goes out on ``/stream`` as a ``critical-result``
event (webapp.reporting.live) that only full accounts receive (webapp.events.display).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from webapp.errors import NotFound, TransitionNotAllowed, ValidationFailed
from webapp.extensions import db
from webapp.reporting.models import CriticalResult

PENDING_KEY = "pending_critical_results"
DEFAULT_ACK_MINUTES = 15


def ack_minutes() -> float:
    """CRITICAL_ACK_MINUTES: decimals allowed (0.05 is 3 seconds)."""
    return float(current_app.config.get("CRITICAL_ACK_MINUTES", DEFAULT_ACK_MINUTES))


def ack_minutes_text() -> str:
    """The limit as pages say it: "15", "0.05"."""
    return f"{ack_minutes():g}"


def critical_note(values: dict) -> str | None:
    """The note of a critical finding the action's values raise, or None; refuses a critical
    finding without a note and a note without the flag (before anything changes)."""
    if values.get("critical"):
        if not values.get("critical_note"):
            raise ValidationFailed({"critical_note": "Say in a short note what is critical."})
        return values["critical_note"]
    if values.get("critical_note"):
        raise ValidationFailed({"critical": "Mark the finding as critical to send this note to the ordering doctor."})
    return None


def _queue(result: CriticalResult) -> None:
    db.session.info.setdefault(PENDING_KEY, []).append(result)


def raise_critical(order, actor, note: str, moment: datetime) -> dict:
    """A new open critical result for the order's doctor; what the order event records."""
    result = CriticalResult(
        order_id=order.id, doctor_id=order.ordered_by, note=note, raised_by=actor.user_id,
        raised_by_label=actor.label[:128], raised_at=moment,
    )
    db.session.add(result)
    _queue(result)
    return {"note": note}


def acknowledge(order, actor, critical_id: int | None, moment: datetime) -> dict:
    """Record who acknowledged the order's critical result and when (409 when done already)."""
    result = db.session.get(CriticalResult, critical_id, populate_existing=True) if critical_id else None
    if result is None or result.order_id != order.id:
        raise NotFound(f"No critical result {critical_id} on order {order.accession_number}.")
    if result.acknowledged_at is not None:
        raise TransitionNotAllowed(
            f"The critical result of order {order.accession_number} was already acknowledged by "
            f"{result.acknowledged_by_label}."
        )
    result.acknowledged_by, result.acknowledged_by_label = actor.user_id, actor.label[:128]
    result.acknowledged_at = moment
    result.on_behalf = actor.user_id != result.doctor_id
    _queue(result)
    doctor = order.ordering_doctor
    return {
        "critical_result": result.id, "note": result.note,
        "on_behalf_of": (doctor.display_name if doctor else "the ordering doctor") if result.on_behalf else None,
    }


# ---------------------------------------------------------------------------- reading


def order_id_of(critical_id: int) -> uuid.UUID:
    """The order a critical result belongs to (404 when there is no such result)."""
    order_id = db.session.scalar(select(CriticalResult.order_id).where(CriticalResult.id == critical_id))
    if order_id is None:
        raise NotFound(f"No critical result with id {critical_id}.")
    return order_id


def get(critical_id: int) -> CriticalResult:
    result = db.session.get(CriticalResult, critical_id, options=[joinedload(CriticalResult.order)])
    if result is None:
        raise NotFound(f"No critical result with id {critical_id}.")
    return result


def open_for_doctor(doctor_id: uuid.UUID) -> list[CriticalResult]:
    """The doctor's unacknowledged critical results, oldest first (the banner)."""
    return list(db.session.scalars(
        select(CriticalResult).options(joinedload(CriticalResult.order))
        .where(CriticalResult.doctor_id == doctor_id, CriticalResult.acknowledged_at.is_(None))
        .order_by(CriticalResult.raised_at, CriticalResult.id)
    ))


def overdue(now: datetime, limit: int = 50) -> list[CriticalResult]:
    """Unacknowledged critical results older than CRITICAL_ACK_MINUTES, oldest first."""
    cutoff = now - timedelta(minutes=ack_minutes())
    return list(db.session.scalars(
        select(CriticalResult).options(joinedload(CriticalResult.order))
        .where(CriticalResult.acknowledged_at.is_(None), CriticalResult.raised_at <= cutoff)
        .order_by(CriticalResult.raised_at, CriticalResult.id).limit(limit)
    ))


def listing(state: str, doctor_id: uuid.UUID | None, limit: int, after_id: int | None) -> list[CriticalResult]:
    """Open or acknowledged critical results (all, or the doctor's), newest first, after ``after_id``."""
    statement = select(CriticalResult).options(joinedload(CriticalResult.order))
    done = CriticalResult.acknowledged_at.is_not(None)
    statement = statement.where(done if state == "acknowledged" else ~done)
    if doctor_id is not None:
        statement = statement.where(CriticalResult.doctor_id == doctor_id)
    if after_id is not None:
        statement = statement.where(CriticalResult.id < after_id)
    return list(db.session.scalars(statement.order_by(CriticalResult.id.desc()).limit(limit)))


def age_minutes(result: CriticalResult, now: datetime) -> int:
    return max(0, int((now - result.raised_at).total_seconds() // 60))
