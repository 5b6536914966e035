"""The safety pages: the patient's safety record (a tab of the patient page, saved by
``POST /patients/{id}/safety``) and the radiologists' protocol queue (``/imaging/protocols``)."""

from __future__ import annotations

import uuid

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select

from webapp.audit import record_read
from webapp.auth.access import roles_required
from webapp.auth.roles import CAN_VIEW_ORDERS, Role
from webapp.errors import StaleVersion, ValidationFailed
from webapp.extensions import db
from webapp.imaging import queries
from webapp.imaging.actions import ACTIONS
from webapp.imaging.models import ImagingOrder
from webapp.patients.queries import get_patient
from webapp.safety import record as safety_record
from webapp.safety.models import MR_SAFETY, PREGNANCY, SEVERITIES, SUBSTANCES
from webapp.safety.screening import last_protocol, protocol_choices, record_of
from webapp.web.htmx import render_page
from webapp.web.service_calls import or_404, saving

bp = Blueprint("safety", __name__)

SAFETY_EDITORS = frozenset({Role.DOCTOR, Role.SCHEDULER, Role.TECHNICIAN, Role.RADIOLOGIST})
BLANK_ROWS = 2  # empty allergy and implant rows offered under the recorded ones


def record_context(patient, values: dict | None = None, errors: dict | None = None) -> dict:
    """What templates/safety/_record.html needs: the record (or the values just sent), choices, trail."""
    stored = safety_record.as_json(record_of(patient.id))
    return {
        "safety": stored, "safety_form": values if values is not None else stored, "safety_errors": errors or {},
        "substances": SUBSTANCES, "severities": SEVERITIES,
        "pregnancy_choices": PREGNANCY, "mr_safety": MR_SAFETY, "blank_rows": BLANK_ROWS,
        "may_edit_safety": current_user.role in SAFETY_EDITORS, "trail": safety_record.history(patient.id, 20),
    }


def _rows(prefix: str, names: tuple[str, ...]) -> list[dict]:
    """The form's numbered rows (``allergy-0-substance`` …), empty rows left out."""
    rows = []
    for index in range(50):
        row = {name: (request.form.get(f"{prefix}-{index}-{name}") or "").strip() for name in names}
        if f"{prefix}-{index}-{names[0]}" not in request.form:
            break
        if any(row.values()):
            rows.append({name: value or None for name, value in row.items()})
    return rows


def _number(name: str):
    text = (request.form.get(name) or "").strip().replace(",", ".")
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return text  # the service names it as not a number


def form_values() -> dict:
    value, measured = _number("egfr_value"), (request.form.get("egfr_measured_on") or "").strip()
    return {
        "allergies": _rows("allergy", ("substance", "reaction", "severity")),
        "implants": _rows("implant", ("name", "mr_safety")),
        "egfr": {"value": value, "measured_on": measured or None} if value is not None or measured else None,
        "pregnancy": request.form.get("pregnancy") or None,
        "pregnancy_asked_on": request.form.get("pregnancy_asked_on") or None,
        "on_metformin": request.form.get("on_metformin") == "y",
        "diabetes": request.form.get("diabetes") == "y",
        "renal_disease": request.form.get("renal_disease") == "y",
        "weight_kg": _number("weight_kg"),
    }


def _as_shown(values: dict, version: int) -> dict:
    """The values sent, shaped like the record (a refused form shows them again)."""
    return values | {"version": version}


@bp.route("/patients/<uuid:patient_id>/safety", methods=["POST"])
@roles_required(SAFETY_EDITORS)
def save_record(patient_id: uuid.UUID):
    patient = or_404(get_patient, patient_id)
    values = form_values()
    try:
        version = int(request.form.get("version", ""))
    except ValueError:
        abort(400)
    with saving() as outcome:
        safety_record.save(current_user._get_current_object(), patient, values, expected_version=version)
    if outcome.refused is None:
        flash("Safety record saved. The patient's open orders were screened again.", "success")
        return redirect(url_for("patients.detail", patient_id=patient.id, tab="safety"), 303)
    record_read(current_user, "safety record", [patient.id])
    errors = outcome.refused.errors if isinstance(outcome.refused, ValidationFailed) else {}
    message = ("Someone else changed this record meanwhile: it is shown as it is now; enter your change again."
               if isinstance(outcome.refused, StaleVersion) else "Please correct the highlighted fields; nothing was saved.")
    context = record_context(patient, None if isinstance(outcome.refused, StaleVersion)
                             else _as_shown(values, version), errors)
    return render_page("patients/detail.html", None, status=409 if isinstance(outcome.refused, StaleVersion) else 422,
                       patient=patient, tab="safety", tabs=_tabs(), orders=[], safety_message=message, **context)


def _tabs():
    from webapp.patients.views import TABS

    return TABS


@bp.route("/imaging/protocols")
@roles_required(CAN_VIEW_ORDERS)
def protocol_queue():
    """Orders waiting for a radiologist's protocol, oldest and most urgent first."""
    if current_user.role != Role.RADIOLOGIST:
        abort(403)
    urgency = {"stat": 0, "urgent": 1, "routine": 2}
    orders = list(db.session.scalars(select(ImagingOrder).where(
        ImagingOrder.protocol_required.is_(True), ImagingOrder.protocol.is_(None),
        ImagingOrder.status.in_(("ordered", "scheduled")),
    ).order_by(ImagingOrder.ordered_date).limit(200)).unique())
    orders.sort(key=lambda o: (urgency.get(o.priority, 3), o.scheduled_date or o.ordered_date))
    record_read(current_user, "protocol queue", [o.patient_id for o in orders])
    return render_page("safety/protocols.html", "queue", orders=orders,
                       choices={o.id: protocol_choices(o) for o in orders},
                       lasts={o.id: last_protocol(o) for o in orders},
                       records={o.id: record_of(o.patient_id) for o in orders})


@bp.route("/imaging/protocols/<uuid:order_id>", methods=["POST"])
@roles_required(CAN_VIEW_ORDERS)
def protocol_order(order_id: uuid.UUID):
    """Protocol one order from the queue: the chosen protocol, or the one typed, and notes."""
    from webapp.imaging import services

    order = or_404(queries.get_order, order_id)
    if current_user.role not in ACTIONS["protocol"].roles:
        abort(403)
    chosen = (request.form.get("typed") or "").strip() or (request.form.get("protocol") or "").strip()
    try:
        version = int(request.form.get("version", ""))
    except ValueError:
        abort(400)
    with saving() as outcome:
        services.apply_action(current_user._get_current_object(), order, "protocol", expected_version=version,
                              protocol=chosen, protocol_notes=request.form.get("notes"))
    if outcome.refused is None:
        flash(f"Order {order.accession_number} protocoled: {chosen}.", "success")
    else:
        flash(f"Order {order.accession_number}: {outcome.refused.detail}", "danger")
    return redirect(url_for("safety.protocol_queue"), 303)
