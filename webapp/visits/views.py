"""The visit page: the visit's details, its imaging orders and the "Order Imaging" button."""

from __future__ import annotations

import uuid

from flask_login import current_user

from webapp.audit import record_read
from webapp.auth.access import roles_required
from webapp.auth.roles import CAN_VIEW_ORDERS
from webapp.imaging import queries, workflow
from webapp.patients.queries import get_visit
from webapp.visits import bp
from webapp.web.htmx import htmx_target, render_page
from webapp.web.service_calls import or_404


@bp.route("/visits/<uuid:visit_id>")
@roles_required(CAN_VIEW_ORDERS)
def detail(visit_id: uuid.UUID):
    visit = or_404(get_visit, visit_id)
    block = "orders" if htmx_target() == "visit-orders" else None
    record_read(current_user, f"orders of the visit of {visit.visit_date:%Y-%m-%d}", [visit.patient_id])
    return render_page(
        "visits/detail.html", block, visit=visit, orders=queries.visit_orders(visit.id),
        may_order=workflow.may_create(current_user.role),
    )
