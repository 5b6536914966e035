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

from sqlalchemy import event
from sqlalchemy.orm import Session

from webapp.extensions import db
from webapp.reporting.critical import PENDING_KEY
from webapp.reporting.models import CriticalResult

EVENT_TYPE = "critical-result"
TO_PUBLISH_KEY = "critical_results_to_publish"


def critical_signal(result: CriticalResult) -> dict[str, Any]:
    return {
        "id": result.id,
        "order_id": str(result.order_id),
        "accession_number": result.order.accession_number if result.order else None,
        "doctor_id": str(result.doctor_id),
        "state": "open" if result.acknowledged_at is None else "acknowledged",
    }


def _before_commit(session: Session) -> None:
    pending = session.info.pop(PENDING_KEY, None)
    if not pending:
        return
    if any(result.id is None for result in pending):
        session.flush()
    session.info.setdefault(TO_PUBLISH_KEY, []).extend(critical_signal(result) for result in pending)


def _after_commit(session: Session) -> None:
    from webapp.events.publishing import publish_signals

    signals = session.info.pop(TO_PUBLISH_KEY, None)
    if signals:
        publish_signals(signals, EVENT_TYPE)


def _after_rollback(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)
    session.info.pop(TO_PUBLISH_KEY, None)


_registered = False


def register_session_listeners() -> None:
    global _registered
    if _registered:
        return
    event.listen(db.session, "before_commit", _before_commit)
    event.listen(db.session, "after_commit", _after_commit)
    event.listen(db.session, "after_rollback", _after_rollback)
    _registered = True
