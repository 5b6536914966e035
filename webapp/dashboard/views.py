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
from webapp.web import live_cache
from webapp.web.htmx import htmx_target, is_live_region_get, render_body, render_page_text

# htmx may refresh one region at a time (e.g. on a live event): target id -> block name.
REGIONS = {"dashboard-counts": "counts", "dashboard-priority": "priority", "dashboard-today": "today"}


@bp.route("/dashboard")
@roles_required(CAN_VIEW_ORDERS)
def index():
    block = REGIONS.get(htmx_target() or "", "dashboard")
    if is_live_region_get():  # identical screens share one render (webapp.web.live_cache)
        return live_cache.answer(f"dashboard:{block}", lambda: _shown(block))
    shown = _shown(block, csrf={})
    record_read(current_user, shown.what, shown.patients)
    return render_page_text(shown)


def _shown(block: str, csrf: dict | None = None) -> live_cache.Shown:
    modality_names = dict(db.session.execute(select(ImagingModality.code, ImagingModality.name)).all())
    priority_orders = boards.open_priority_orders() if block in ("dashboard", "priority") else []
    today_orders = boards.todays_orders() if block in ("dashboard", "today") else []
    html = render_body(
        "dashboard/index.html", block,
        counts=boards.dashboard_counts(), priority_orders=priority_orders,
        today_orders=today_orders, statuses=STATUS_LABELS, modality_names=modality_names,
        **(live_cache.csrf_context() if csrf is None else csrf),
    )
    # The queues name patients and their indications; the counts region shows no one.
    return live_cache.Shown(html, "dashboard", [o.patient_id for o in priority_orders + today_orders])
