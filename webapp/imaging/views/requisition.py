"""The printable requisition: GET /imaging/orders/{id}/requisition.pdf (imaging.requisition).
Any member of staff who may open the order may print it; the order page offers the Print button
to schedulers and technicians. The read goes to the patient access log."""

from __future__ import annotations

import uuid

from flask import make_response
from flask_login import current_user

from webapp.audit import record_read
from webapp.auth.access import roles_required
from webapp.auth.roles import CAN_VIEW_ORDERS, Role
from webapp.db_types import utcnow
from webapp.imaging import bp, queries
from webapp.imaging.requisition import requisition_pdf
from webapp.web.service_calls import or_404

PRINT_ROLES = frozenset({Role.SCHEDULER, Role.TECHNICIAN})  # who sees the Print button


@bp.route("/imaging/orders/<uuid:order_id>/requisition.pdf")
@roles_required(CAN_VIEW_ORDERS)
def requisition(order_id: uuid.UUID):
    order = or_404(queries.get_order, order_id)
    record_read(current_user, f"requisition of order {order.accession_number}", [order.patient_id])
    response = make_response(requisition_pdf(order, utcnow()))
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'inline; filename="requisition-{order.accession_number}.pdf"'
    response.headers["Cache-Control"] = "no-store"
    return response
