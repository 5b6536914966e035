"""Demo data of reporting (``flask seed --demo``): report drafts, addenda, one open and one
acknowledged critical result; the demo orders' history feeds the metrics page."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from webapp.extensions import db
from webapp.imaging import services
from webapp.imaging.models import ImagingOrder
from webapp.reporting import drafts
from webapp.reporting.models import CriticalResult


def _orders(status: str) -> list[ImagingOrder]:
    statement = select(ImagingOrder).where(ImagingOrder.status == status).order_by(ImagingOrder.ordered_date.desc())
    return list(db.session.execute(statement).unique().scalars())


def _chest(orders: list[ImagingOrder], modalities: tuple[str, ...], but=None) -> ImagingOrder | None:
    """The first chest exam (CPT 71010-71555, the chest range) of ``modalities``, in that order of
    preference, other than ``but``."""
    chest = [o for o in orders if (o.procedure_code or "").startswith("71") and o is not but]
    return next((o for modality in modalities for o in chest if o.modality == modality), None)


def load_reporting_demo(users: dict, now: datetime) -> None:
    radiologist, doctor = users["radiologist"], users["doctor"]
    for order in _orders("completed")[:2]:
        drafts.save_draft(radiologist, order, {
            "technique": "Standard protocol.", "findings": "Findings being written…", "template_code": None})
    reported = _orders("reported")
    # Each finding on an exam that can show it: a pneumothorax on a chest X-ray or CT, a pulmonary
    # embolus on a CT of the chest (the demo's CT angiogram, CPT 71275).
    pneumothorax = _chest(reported, ("XRAY", "CT"))
    embolus = _chest(reported, ("CT",), but=pneumothorax)
    others = [order for order in reported if order not in (pneumothorax, embolus)]
    if pneumothorax is None or embolus is None or not others:
        return
    services.apply_action(radiologist, others[0], "addendum", now=now - timedelta(minutes=10),
                          addendum="Comparison with the prior study: unchanged.")
    # One critical result still open (overdue), one acknowledged after 7 minutes.
    services.apply_action(radiologist, pneumothorax, "addendum", now=now - timedelta(minutes=40),
                          addendum="On review: a small pneumothorax at the right apex.", critical=True,
                          critical_note="Right apical pneumothorax")
    raised = now - timedelta(hours=3)
    services.apply_action(radiologist, embolus, "addendum", now=raised,
                          addendum="On review: a pulmonary embolus in a segmental artery.", critical=True,
                          critical_note="Segmental pulmonary embolus")
    db.session.flush()
    result = db.session.scalar(select(CriticalResult).where(CriticalResult.order_id == embolus.id))
    services.apply_action(doctor, embolus, "acknowledge", now=raised + timedelta(minutes=7), critical_id=result.id)
