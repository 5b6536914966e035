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


def load_reporting_demo(users: dict, now: datetime) -> None:
    radiologist, doctor = users["radiologist"], users["doctor"]
    for order in _orders("completed")[:2]:
        drafts.save_draft(radiologist, order, {
            "technique": "Standard protocol.", "findings": "Findings being written…", "template_code": None})
    reported = _orders("reported")
    if len(reported) < 3:
        return
    services.apply_action(radiologist, reported[0], "addendum", now=now - timedelta(minutes=10),
                          addendum="Comparison with the prior study: unchanged.")
    # One critical result still open (overdue), one acknowledged after 7 minutes.
    services.apply_action(radiologist, reported[1], "addendum", now=now - timedelta(minutes=40),
                          addendum="On review: a small pneumothorax at the right apex.", critical=True,
                          critical_note="Right apical pneumothorax")
    raised = now - timedelta(hours=3)
    services.apply_action(radiologist, reported[2], "addendum", now=raised,
                          addendum="On review: a pulmonary embolus in a segmental artery.", critical=True,
                          critical_note="Segmental pulmonary embolus")
    db.session.flush()
    result = db.session.scalar(select(CriticalResult).where(CriticalResult.order_id == reported[2].id))
    services.apply_action(doctor, reported[2], "acknowledge", now=raised + timedelta(minutes=7), critical_id=result.id)
