"""``critical-result`` events on ``/stream``: published after the commit, like order events.

The steps that raise or acknowledge a critical result queue it in ``session.info``
(webapp.reporting.critical); these session listeners turn the queue into signals before the
commit and publish them through webapp.events.publishing once it has succeeded (dropped on
rollback). A signal names the critical result, its order and the doctor it is for, and no
patient: every full account's page receives it, and the banner of the doctor it names re-fetches
itself (templates/reporting/_critical_banner.html). The wall display never receives it
(webapp.events.display sends such accounts order counts only). The events carry no ``id:``: they
are not replayed, and a page that reconnects re-fetches its banner instead.
"""

from __future__ import annotations

from typing import Any

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


def register_session_listeners() -> None:
    from webapp.events.publishing import publish_after_commit

    publish_after_commit(PENDING_KEY, _signals, EVENT_TYPE)
