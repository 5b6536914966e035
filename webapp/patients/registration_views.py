"""The registration pages: /patients/new (a patient) and /patients/{id}/visits/new (a visit with
its diagnoses). They check what they are sent with the API's own schemas (PatientIn, VisitIn)
and go through the API's own services (webapp.patients.registration, webapp.visits.services),
so a page and the API accept and refuse the same. Plain forms that post and redirect; htmx
swaps the form panel and follows the redirect (HX-Redirect).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user
from pydantic import ValidationError

from webapp.audit import record_read
from webapp.auth.access import roles_required
from webapp.auth.roles import CAN_OPEN_VISITS, CAN_REGISTER_PATIENTS
from webapp.db_types import clinic_zone, utcnow
from webapp.errors import NotFound, ValidationFailed
from webapp.extensions import db
from webapp.patients import bp, registration
from webapp.patients.models import SEXES
from webapp.patients.queries import get_patient
from webapp.visits import services as visits
from webapp.web.htmx import is_htmx, render_page
from webapp.web.service_calls import or_404

PATIENT_FIELDS = ("mrn", "last_name", "first_name", "date_of_birth", "sex")
FIELD_TEXT = {
    "mrn": "Letters, digits and dashes (at most 32), starting with a letter or a digit.",
    "date_of_birth": "A past date after 1880.",
    "sex": "Choose one.",
}
DIAGNOSIS_ROWS, MAX_DIAGNOSES = 3, 20


def _errors(exc: ValidationError, prefix: str = "") -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors():
        location = [str(part) for part in error["loc"]]
        name = prefix + "-".join(location)
        if error["type"] == "missing" or (error["type"] == "string_too_short" and error["input"] == ""):
            errors.setdefault(name, "Required.")
        else:
            errors.setdefault(name, FIELD_TEXT.get(location[0], error["msg"].removeprefix("Value error, ")))
    return errors


def _done(url: str, message: str):
    flash(message, "success")
    if is_htmx():
        response = redirect(url, 303)
        response.status_code, response.headers["HX-Redirect"] = 200, url
        return response
    return redirect(url, 303)


# ---------------------------------------------------------------------------- a patient


@bp.route("/patients/new", methods=["GET", "POST"])
@roles_required(CAN_REGISTER_PATIENTS)
def new_patient():
    from webapp.api.schemas import PatientIn  # the API's package imports the pages' modules

    values = {name: (request.form.get(name) or "").strip() for name in PATIENT_FIELDS}
    if request.method == "GET":
        return _patient_page(values | {"sex": ""})
    try:
        body = PatientIn.model_validate({k: v for k, v in values.items() if v != ""})
    except ValidationError as exc:
        return _patient_page(values, errors=_errors(exc), status=422)
    same = registration.same_person(first_name=body.first_name, last_name=body.last_name,
                                    date_of_birth=body.date_of_birth)
    if same and request.form.get("confirm_new_person") != "yes":
        record_read(current_user, "possible duplicates at registration", [p.id for p in same])
        db.session.commit()
        return _patient_page(values, same=same, status=409)
    try:
        patient = registration.register_patient(**body.model_dump())
        patient_id, name = patient.id, patient.full_name
        db.session.commit()
    except registration.DuplicatePatient as exc:
        db.session.rollback()
        return _patient_page(values, errors={"mrn": exc.detail}, status=409, holder=exc.existing_id)
    return _done(url_for("patients.detail", patient_id=patient_id), f"{name} is registered (MRN {body.mrn}).")


def _patient_page(values: dict, *, errors: dict | None = None, same=(), status: int = 200, holder=None):
    return render_page("patients/new.html", "form_panel", status=status, values=values, errors=errors or {},
                       same=list(same), holder=holder, sexes=SEXES)


# ---------------------------------------------------------------------------- a visit


@bp.route("/patients/<uuid:patient_id>/visits/new", methods=["GET", "POST"])
@roles_required(CAN_OPEN_VISITS)
def new_visit(patient_id: uuid.UUID):
    from webapp.api.schemas import VisitIn  # the API's package imports the pages' modules

    patient = or_404(get_patient, patient_id)
    record_read(current_user, "new visit form", [patient.id])
    values, diagnoses = _visit_values()
    if request.method == "GET" or request.form.get("more_rows"):
        rows = len(diagnoses) + DIAGNOSIS_ROWS if request.method == "POST" else DIAGNOSIS_ROWS
        db.session.commit()
        return _visit_page(patient, values, diagnoses, rows=rows)
    errors: dict[str, str] = {}
    moment = _moment(values["visit_date"], errors)
    filled = [d for d in diagnoses if d["code"] or d["description"]]
    try:
        body = VisitIn.model_validate({"patient_id": patient.id, "reason": values["reason"],
                                       "clinical_notes": values["clinical_notes"] or None,
                                       "diagnoses": filled} | ({"visit_date": moment} if moment else {}))
    except ValidationError as exc:
        errors |= _errors(exc)
        body = None
    if errors or body is None:
        db.session.commit()
        return _visit_page(patient, values, diagnoses, errors=_diagnosis_errors(errors, filled, diagnoses), status=422)
    try:
        visit = visits.open_visit(patient.id, reason=body.reason, visit_date=body.visit_date,
                                  clinical_notes=body.clinical_notes,
                                  diagnoses=[(d.code, d.description) for d in body.diagnoses])
        visit_id = visit.id
        db.session.commit()
    except (NotFound, ValidationFailed):
        db.session.rollback()
        abort(404)
    return _done(url_for("visits.detail", visit_id=visit_id), f"Visit opened for {patient.full_name}.")


def _visit_values() -> tuple[dict, list[dict]]:
    form = request.form
    values = {"visit_date": (form.get("visit_date") or "").strip(), "reason": (form.get("reason") or "").strip(),
              "clinical_notes": (form.get("clinical_notes") or "").strip()}
    codes, descriptions = form.getlist("diagnosis_code"), form.getlist("diagnosis_description")
    rows = [{"code": (c or "").strip(), "description": (d or "").strip()}
            for c, d in zip(codes, descriptions, strict=False)][:MAX_DIAGNOSES + 1]
    return values, rows


def _moment(text: str, errors: dict) -> datetime | None:
    """The visit's date and time as typed (the clinic's clock); empty is now."""
    if not text:
        return None
    try:
        local = datetime.fromisoformat(text)
    except ValueError:
        errors["visit_date"] = "A date and time, e.g. 2026-12-07T09:30."
        return None
    return local.replace(tzinfo=clinic_zone()) if local.tzinfo is None else local


def _diagnosis_errors(errors: dict, filled: list[dict], rows: list[dict]) -> dict:
    """The schema names a diagnosis by its place among the filled rows; the page by its row."""
    shown: dict[str, str] = {}
    for name, message in errors.items():
        parts = name.split("-")
        if parts[0] == "diagnoses" and len(parts) >= 3 and parts[1].isdigit() and int(parts[1]) < len(filled):
            row = rows.index(filled[int(parts[1])])
            shown[f"diagnosis-{parts[2]}-{row}"] = message
        elif parts[0] == "diagnoses":
            shown["diagnoses"] = f"At most {MAX_DIAGNOSES} diagnoses."
        else:
            shown[parts[0]] = message
    return shown


def _visit_page(patient, values: dict, diagnoses: list[dict], *, rows: int = DIAGNOSIS_ROWS,
                errors: dict | None = None, status: int = 200):
    rows = min(max(rows, len(diagnoses), 1), MAX_DIAGNOSES)
    padded = diagnoses[:rows] + [{"code": "", "description": ""}] * (rows - len(diagnoses[:rows]))
    if not values["visit_date"]:
        values = values | {"visit_date": utcnow().astimezone(clinic_zone()).strftime("%Y-%m-%dT%H:%M")}
    return render_page("patients/new_visit.html", "form_panel", status=status, patient=patient, values=values,
                       diagnoses=padded, errors=errors or {}, max_diagnoses=MAX_DIAGNOSES)
