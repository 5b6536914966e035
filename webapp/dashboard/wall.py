"""The department's wall display: large, dark, no interaction. Counts by status and modality,
open STAT orders with how long they have waited, and today's turnaround per stage. It shows
accession numbers and exams, never patient names (it hangs in a corridor).
"""

from __future__ import annotations

from datetime import datetime
from statistics import median

from sqlalchemy import select

from webapp.auth.access import roles_required
from webapp.auth.roles import ALL_ROLES
from webapp.dashboard import bp
from webapp.db_types import clinic_day_bounds, clinic_today, utcnow
from webapp.extensions import db
from webapp.imaging import boards
from webapp.imaging.models import OPEN_STATUSES, STATUS_LABELS, ImagingModality, ImagingOrder, OrderEvent
from webapp.web.htmx import render_page

# Stages of the workflow: the time from entering one status to entering the next.
STAGES = (
    ("ordered", "scheduled", "Ordered → scheduled"),
    ("scheduled", "in_progress", "Scheduled → scan started"),
    ("in_progress", "completed", "Scan"),
    ("completed", "reported", "Scan done → reported"),
)


def todays_turnaround(now: datetime | None = None) -> list[dict]:
    """Per stage: how many orders finished it today, and the median minutes it took them."""
    now = now or utcnow()
    start, end = clinic_day_bounds(clinic_today(now))
    targets = {to for _, to, _ in STAGES}
    finished_today = select(OrderEvent.order_id).where(
        OrderEvent.created_at >= start, OrderEvent.created_at < end, OrderEvent.to_status.in_(targets),
        OrderEvent.from_status.is_distinct_from(OrderEvent.to_status),
    )
    rows = db.session.execute(
        select(OrderEvent.order_id, OrderEvent.to_status, OrderEvent.from_status, OrderEvent.created_at)
        .where(OrderEvent.order_id.in_(finished_today))
        .order_by(OrderEvent.order_id, OrderEvent.id)
    ).all()
    entered: dict = {}
    for order_id, to_status, from_status, created_at in rows:
        if to_status and from_status != to_status:
            entered.setdefault(order_id, {}).setdefault(to_status, created_at)
    result = []
    for before, after, label in STAGES:
        minutes = [
            (times[after] - times[before]).total_seconds() / 60
            for times in entered.values()
            if before in times and after in times and start <= times[after] < end and times[after] >= times[before]
        ]
        result.append({"label": label, "count": len(minutes), "median": round(median(minutes)) if minutes else None})
    return result


def open_stat_orders(now: datetime | None = None) -> list[tuple[ImagingOrder, int]]:
    """Open STAT orders, longest waiting first, with their waiting time in minutes."""
    now = now or utcnow()
    orders = db.session.execute(
        select(ImagingOrder)
        .where(ImagingOrder.status.in_(OPEN_STATUSES), ImagingOrder.priority == "stat")
        .order_by(ImagingOrder.ordered_date.asc())
        .limit(12)
    ).unique().scalars()
    return [(order, max(0, int((now - order.ordered_date).total_seconds() // 60))) for order in orders]


@bp.route("/dashboard/wall")
@roles_required(ALL_ROLES)
def wall():
    now = utcnow()
    names = dict(db.session.execute(select(ImagingModality.code, ImagingModality.name)).all())
    return render_page(
        "dashboard/wall.html", "wall",
        counts=boards.dashboard_counts(now), statuses=STATUS_LABELS, modality_names=names,
        stat_orders=open_stat_orders(now), turnaround=todays_turnaround(now), now=now,
    )
