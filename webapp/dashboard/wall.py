"""The department's wall display: large, dark, no interaction, made to fit one screen (1920×1080
down to 1280×720) without scrolling. Counts by status and modality; open STAT and urgent orders
not yet started with how long they have waited (since the booked time when booked, else since
the order), the scans in progress in their own column, and today's turnaround per stage. It
shows accession numbers and exams, never patient names (it hangs in a corridor).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from statistics import median

from sqlalchemy import case, func, select

from webapp.auth.access import roles_required
from webapp.auth.roles import ALL_ROLES
from webapp.dashboard import bp
from webapp.db_types import clinic_day_bounds, clinic_today, clinic_zone, utcnow
from webapp.extensions import db
from webapp.imaging import boards, booking, day_lists
from webapp.imaging.models import STATUS_LABELS, ImagingModality, OrderEvent
from webapp.safety.waiting import waiting_room
from webapp.web import live_cache
from webapp.web.htmx import is_live_region_get, render_body, render_page_text

# Stages of the workflow: the time from entering one status to entering the next.
STAGES = (
    ("ordered", "scheduled", "Ordered → booked"),
    ("scheduled", "in_progress", "Booked → started"),
    ("in_progress", "completed", "Scan"),
    ("completed", "reported", "Scan → report"),
)


STAGE_STATUSES = tuple(dict.fromkeys(status for stage in STAGES for status in stage[:2]))


def todays_turnaround(now: datetime | None = None) -> list[dict]:
    """Per stage: how many orders finished it today, and the median minutes it took them."""
    now = now or utcnow()
    start, end = clinic_day_bounds(clinic_today(now))
    targets = {to for _, to, _ in STAGES}
    moved = OrderEvent.from_status.is_distinct_from(OrderEvent.to_status)
    finished_today = select(OrderEvent.order_id).where(
        OrderEvent.created_at >= start, OrderEvent.created_at < end, OrderEvent.to_status.in_(targets), moved,
    )
    # One row per order with the time it first entered each status (the database does the
    # grouping: a day's events as rows cost the wall more than the rest of its render).
    rows = db.session.execute(
        select(*(func.min(case((OrderEvent.to_status == status, OrderEvent.created_at)))
                 for status in STAGE_STATUSES))
        .where(OrderEvent.order_id.in_(finished_today), OrderEvent.to_status.in_(STAGE_STATUSES), moved)
        .group_by(OrderEvent.order_id)
    ).all()
    entered = [dict(zip(STAGE_STATUSES, row, strict=True)) for row in rows]
    result = []
    for before, after, label in STAGES:
        minutes = [
            (times[after] - times[before]).total_seconds() / 60
            for times in entered
            if times[before] is not None and times[after] is not None and start <= times[after] < end
            and times[after] >= times[before]
        ]
        result.append({"label": label, "count": len(minutes), "median": round(median(minutes)) if minutes else None})
    return result


@bp.route("/dashboard/wall")
@roles_required(ALL_ROLES)
def wall():
    if is_live_region_get():  # every wall shows the same: one render (webapp.web.live_cache)
        return live_cache.answer("wall", lambda: live_cache.Shown(_wall_html(), "wall"))
    return render_page_text(live_cache.Shown(_wall_html(), "wall"))


def _wall_html() -> str:
    now = utcnow()
    names = dict(db.session.execute(select(ImagingModality.code, ImagingModality.name)).all())
    waiting, waiting_total = day_lists.wall_waiting(now)
    scanning, scanning_total = day_lists.wall_scanning(now)
    offset = now.astimezone(clinic_zone()).utcoffset()
    return render_body(
        "dashboard/wall.html", "wall",
        counts=boards.dashboard_counts(now), statuses=STATUS_LABELS, modality_names=names,
        waiting=waiting, waiting_total=waiting_total, scanning=scanning, scanning_total=scanning_total,
        turnaround=todays_turnaround(now), now=now, utc_offset_minutes=int(offset.total_seconds() // 60),
        down=booking.upcoming_downtimes(None, now, now + timedelta(seconds=1)),  # scanners down now (no patient data)
        waiting_room=waiting_room(now),
    )
