"""Patient search and the patient page with its Imaging History tab (seed section 12)."""

from __future__ import annotations

import uuid

from flask import abort, request
from flask_login import current_user
from sqlalchemy import select

from webapp.audit import record_read
from webapp.auth.access import roles_required
from webapp.auth.roles import CAN_VIEW_ORDERS
from webapp.extensions import db
from webapp.imaging import queries
from webapp.patients import bp
from webapp.patients.models import Patient
from webapp.patients.search import patient_matches
from webapp.web.htmx import htmx_target, render_page

SEARCH_LIMIT = 50
TABS = {"overview": "Overview and visits", "imaging": "Imaging History"}


def search_patients(text: str | None) -> list[Patient]:
    statement = select(Patient).order_by(Patient.last_name, Patient.first_name, Patient.id).limit(SEARCH_LIMIT)
    condition = patient_matches(text)
    if condition is not None:
        statement = statement.where(condition)
    return list(db.session.scalars(statement))


@bp.route("/patients")
@roles_required(CAN_VIEW_ORDERS)
def search():
    q = request.args.get("q", "")
    patients = search_patients(q)
    record_read(current_user, "patient search", [p.id for p in patients])
    return render_page("patients/search.html", "results", patients=patients, q=q)


@bp.route("/patients/<uuid:patient_id>")
@roles_required(CAN_VIEW_ORDERS)
def detail(patient_id: uuid.UUID):
    patient = db.session.get(Patient, patient_id)
    if patient is None:
        abort(404)
    tab = request.args.get("tab", "overview")
    if tab not in TABS:
        tab = "overview"
    orders = queries.patient_orders(patient.id) if tab == "imaging" else []
    # The overview shows the patient's visits (reasons, diagnoses): a read of their data too.
    record_read(current_user, "imaging history" if tab == "imaging" else "patient overview", [patient.id])
    block = "tabs" if htmx_target() == "patient-tab-region" else None
    return render_page("patients/detail.html", block, patient=patient, tab=tab, tabs=TABS, orders=orders)
