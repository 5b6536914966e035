"""The dashboard: order counts by status and modality, open STAT/urgent orders, today's orders."""

from __future__ import annotations

from flask_login import current_user
from sqlalchemy import select

from webapp.audit import record_read
from webapp.auth.access import roles_required
from webapp.auth.roles import CAN_VIEW_ORDERS
from webapp.dashboard import bp
from webapp.extensions import db
from webapp.imaging import boards
from webapp.imaging.models import STATUS_LABELS, ImagingModality
from webapp.web.htmx import htmx_target, render_page

# htmx may refresh one region at a time (e.g. on a live event): target id -> block name.
REGIONS = {"dashboard-counts": "counts", "dashboard-priority": "priority", "dashboard-today": "today"}


@bp.route("/dashboard")
@roles_required(CAN_VIEW_ORDERS)
def index():
    modality_names = dict(db.session.execute(select(ImagingModality.code, ImagingModality.name)).all())
    block = REGIONS.get(htmx_target() or "", "dashboard")
    priority_orders = boards.open_priority_orders() if block in ("dashboard", "priority") else []
    today_orders = boards.todays_orders() if block in ("dashboard", "today") else []
    # The queues name patients and their indications; the counts region shows no one.
    record_read(current_user, "dashboard", [o.patient_id for o in priority_orders + today_orders])
    return render_page(
        "dashboard/index.html", block,
        counts=boards.dashboard_counts(), priority_orders=priority_orders,
        today_orders=today_orders, statuses=STATUS_LABELS, modality_names=modality_names,
    )
