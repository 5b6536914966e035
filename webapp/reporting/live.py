"""``critical-result`` events on ``/stream``: published after the commit, like order events.

The steps that raise or acknowledge a critical result queue it in ``session.info``
(webapp.reporting.critical); these session listeners turn the queue into signals before the
commit and publish them through webapp.events.publishing once it has succeeded (dropped on
rollback). A signal names the critical result, its order and the doctor it is for, and no
patient: every full account's page receives it, and the banner of the doctor it names re-fetches
itself (templates/reporting/_critical_banner.html). The wall display never receives it
(webapp.events.display sends such accounts order counts only). The events carry no ``id:`` of
their own; a stream that comes back with ``Last-Event-ID`` (after a Redis outage, say) is sent
them again just before the order event they went with (``replay_companions``), and a page that
reconnects also re-fetches its banner.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from webapp.reporting.critical import PENDING_KEY
from webapp.reporting.models import CriticalResult

EVENT_TYPE = "critical-result"


def critical_signal(result: CriticalResult) -> dict[str, Any]:
    return {
        "id": result.id,
        "order_id": str(result.order_id),
        "accession_number": result.order.accession_number if result.order else None,
        "doctor_id": str(result.doctor_id),
        "state": "open" if result.acknowledged_at is None else "acknowledged",
        "escalated": result.escalated_at is not None,
    }


def _signals(_session: Session, pending: list[CriticalResult]) -> list[dict[str, Any]]:
    return [critical_signal(result) for result in pending]


def replay_companions(rows: list) -> dict[int, list[tuple[str, dict[str, Any]]]]:
    """For replayed order events that raised or acknowledged a critical result (the step records
    it under ``critical`` or ``critical_result`` in the event's changes, at the same moment as
    the result's ``raised_at`` / ``acknowledged_at``): that result's signal, by event row id."""
    wanted = [(row, order) for row, order in rows if {"critical", "critical_result"} & set(row.changes or {})]
    if not wanted:
        return {}
    from webapp.extensions import db

    moments = {row.created_at for row, _ in wanted}
    results = db.session.scalars(
        select(CriticalResult)
        .where(CriticalResult.order_id.in_({order.id for _, order in wanted}))
        .where(or_(CriticalResult.raised_at.in_(moments), CriticalResult.acknowledged_at.in_(moments)))
    ).all()
    found: dict[int, list[tuple[str, dict[str, Any]]]] = {}
    for row, order in wanted:
        for result in results:
            if result.order_id == order.id and row.created_at in (result.raised_at, result.acknowledged_at):
                signal = critical_signal(result)
                if row.created_at == result.raised_at and result.acknowledged_at != row.created_at:
                    signal["state"] = "open"  # as it was when this event happened
                found.setdefault(row.id, []).append((EVENT_TYPE, signal))
    return found


def register_session_listeners() -> None:
    from webapp.events.publishing import REPLAY_COMPANIONS, publish_after_commit

    publish_after_commit(PENDING_KEY, _signals, EVENT_TYPE)
    if replay_companions not in REPLAY_COMPANIONS:
        REPLAY_COMPANIONS.append(replay_companions)
