"""The work queues: orders to schedule (the scheduler's) and scans to report (the
radiologist's), STAT first, then urgent, then routine, the longest waiting first, each with how
long it has waited (since it was ordered / since its scan was completed)."""

from __future__ import annotations

from flask_login import current_user

from webapp.audit import record_read
from webapp.auth.access import roles_required
from webapp.auth.roles import CAN_VIEW_ORDERS
from webapp.dashboard import bp
from webapp.db_types import utcnow
from webapp.imaging import day_lists
from webapp.web.htmx import render_page

TITLES = {
    "to_schedule": ("To schedule", "Ordered, waiting to be booked", "since ordered", "Ordered"),
    "to_report": ("To report", "Scanned, waiting for a report", "since the scan was completed", "Scan completed"),
}


def _queue_page(queue: str):
    now = utcnow()
    orders, total = day_lists.queue_orders(queue)
    record_read(current_user, queue.replace("_", " "), [o.patient_id for o in orders])
    title, subtitle, since_text, since_label = TITLES[queue]
    rows = [(order, day_lists.queue_since(queue, order)) for order in orders]
    return render_page(
        "dashboard/queue.html", "queue", queue=queue, title=title, subtitle=subtitle, since_text=since_text,
        since_label=since_label, total=total, now=now, waiting_status=day_lists.QUEUES[queue][0],
        rows=[(order, since, day_lists.minutes_between(since, now)) for order, since in rows],
    )


@bp.route("/dashboard/to-schedule")
@roles_required(CAN_VIEW_ORDERS)
def to_schedule():
    return _queue_page("to_schedule")


@bp.route("/dashboard/to-report")
@roles_required(CAN_VIEW_ORDERS)
def to_report():
    return _queue_page("to_report")
