"""What people read as the result must be what the hash chain recorded.

The chain (``webapp.audit.chain``) seals the order events, and each reporting event carries the
text it made: ``report`` (an attending's signature) and ``preliminary`` (a trainee's) the signed
sections, ``cosign`` the sections the attending changed, ``addendum`` the addendum's text, ``critical`` the
critical finding's note, ``acknowledge`` the critical result it acknowledged. The result itself
is read from other rows (the order's findings and impression, ``report_details``,
``report_addenda``, ``critical_results``), which plain SQL could change without touching the
chain. :func:`verify_results` compares every such row with the events: ``flask audit verify``
reports the first order whose result differs from its chain, naming the field. Addenda are also
append-only by trigger (``webapp.audit.guards``).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.imaging.models import ImagingOrder, OrderEvent
from webapp.reporting.models import CriticalResult, ReportAddendum, ReportDetails

ORDER_SECTIONS = ("findings", "impression", "report_text")
DETAIL_SECTIONS = ("technique", "comparison")


class _Recorded:
    """One order's result as its events recorded it."""

    def __init__(self) -> None:
        self.report: dict | None = None
        self.addenda: list[str] = []
        self.critical_notes: list[str] = []
        self.acknowledged: set[int] = set()


def _recorded(session: Session) -> dict[uuid.UUID, _Recorded]:
    found: dict[uuid.UUID, _Recorded] = defaultdict(_Recorded)
    rows = session.execute(select(OrderEvent.order_id, OrderEvent.changes).order_by(OrderEvent.id))
    for order_id, changes in rows:
        if not isinstance(changes, dict):
            continue
        for kind in ("report", "preliminary"):
            if isinstance(changes.get(kind), dict):
                found[order_id].report = dict(changes[kind])
        if isinstance(changes.get("cosign"), dict) and found[order_id].report is not None:
            found[order_id].report.update(changes["cosign"])
        if isinstance(changes.get("addendum"), str):
            found[order_id].addenda.append(changes["addendum"])
        if isinstance(changes.get("critical"), dict) and "note" in changes["critical"]:
            found[order_id].critical_notes.append(changes["critical"]["note"])
        if isinstance(changes.get("critical_result"), int):
            found[order_id].acknowledged.add(changes["critical_result"])
    return found


def _differences(session: Session, order_id: uuid.UUID, recorded: _Recorded) -> Iterator[str]:
    order = session.get(ImagingOrder, order_id)
    if recorded.report is not None:
        for name in ORDER_SECTIONS:
            if name in recorded.report and getattr(order, name) != recorded.report[name]:
                yield f"the report's {name.replace('_', ' ')}"
        details = session.get(ReportDetails, order_id)
        for name in DETAIL_SECTIONS:
            if name in recorded.report and (getattr(details, name) if details else None) != recorded.report[name]:
                yield f"the report's {name}"
    addenda = list(session.scalars(select(ReportAddendum.text).where(ReportAddendum.order_id == order_id)
                                   .order_by(ReportAddendum.created_at, ReportAddendum.id)))
    if addenda != recorded.addenda:
        yield f"its addenda ({len(addenda)} stored, {len(recorded.addenda)} recorded)"
    critical = session.execute(select(CriticalResult.id, CriticalResult.note, CriticalResult.acknowledged_at)
                               .where(CriticalResult.order_id == order_id).order_by(CriticalResult.id)).all()
    if [row.note for row in critical] != recorded.critical_notes:
        yield f"its critical results ({len(critical)} stored, {len(recorded.critical_notes)} recorded)"
    if {row.id for row in critical if row.acknowledged_at is not None} != recorded.acknowledged:
        yield "which critical results are acknowledged"


def verify_results(session: Session) -> str | None:
    """The first order whose report, addenda or critical results differ from its events, or None."""
    recorded = _recorded(session)
    # Orders with result rows but no events for them are checked too (rows inserted by hand).
    for model in (ReportAddendum, CriticalResult):
        for order_id in session.scalars(select(model.order_id).distinct()):
            recorded.setdefault(order_id, _Recorded())
    for order_id, what in recorded.items():
        wrong = list(_differences(session, order_id, what))
        if wrong:
            accession = session.scalar(select(ImagingOrder.accession_number).where(ImagingOrder.id == order_id))
            return f"order {accession}: {', '.join(wrong)} no longer match what the audit trail recorded"
    return None
