"""Patient search and the patient page with its Imaging History tab (seed section 12)."""

from __future__ import annotations

import uuid

from flask import request
from flask_login import current_user

from webapp.audit import record_read
from webapp.auth.access import roles_required
from webapp.auth.roles import CAN_OPEN_VISITS, CAN_REGISTER_PATIENTS, CAN_VIEW_ORDERS
from webapp.imaging import queries
from webapp.patients import bp
from webapp.patients.queries import get_patient, search_patients
from webapp.safety.views import record_context
from webapp.web.htmx import htmx_target, render_page
from webapp.web.service_calls import or_404

TABS = {"overview": "Overview and visits", "imaging": "Imaging History", "safety": "Safety screening"}


@bp.route("/patients")
@roles_required(CAN_VIEW_ORDERS)
def search():
    q = request.args.get("q", "")
    patients = search_patients(q)
    record_read(current_user, "patient search", [p.id for p in patients])
    return render_page("patients/search.html", "results", patients=patients, q=q, **_may())


def _may() -> dict:
    """The registration links the user's role may follow (webapp.patients.registration_views)."""
    return {"may_register": current_user.role in CAN_REGISTER_PATIENTS,
            "may_open_visit": current_user.role in CAN_OPEN_VISITS}


@bp.route("/patients/<uuid:patient_id>")
@roles_required(CAN_VIEW_ORDERS)
def detail(patient_id: uuid.UUID):
    patient = or_404(get_patient, patient_id)
    tab = request.args.get("tab", "overview")
    if tab not in TABS:
        tab = "overview"
    orders = queries.patient_orders(patient.id) if tab == "imaging" else []
    # The overview shows the patient's visits (reasons, diagnoses): a read of their data too.
    what = {"imaging": "imaging history", "safety": "safety record"}.get(tab, "patient overview")
    record_read(current_user, what, [patient.id])
    block = "tabs" if htmx_target() == "patient-tab-region" else None
    safety = record_context(patient) if tab == "safety" else {}
    return render_page("patients/detail.html", block, patient=patient, tab=tab, tabs=TABS, orders=orders, **_may(),
                       **safety)
