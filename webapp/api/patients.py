"""The minimal patient records orders hang on: POST/GET /api/v1/patients, GET /api/v1/patients/{id}."""

from __future__ import annotations

from flask import request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.api import examples
from webapp.api.common import answer as answer_doc
from webapp.api.common import json_response, problems, resource_blueprint
from webapp.api.errors import ApiError
from webapp.api.idempotency import claim
from webapp.api.schemas import IdempotencyHeader, PatientIn, PatientList, PatientOut, PatientPath, PatientQuery
from webapp.api.security import api_user, requires
from webapp.audit import record_read
from webapp.auth.roles import CAN_REGISTER_PATIENTS, CAN_VIEW_ORDERS
from webapp.errors import NotFound
from webapp.extensions import db
from webapp.paging import keyset_page
from webapp.patients.models import Patient
from webapp.patients.search import patient_matches

api = resource_blueprint("patients", __name__, "/api/v1/patients", "Patients")
CREATED = {
    201: answer_doc("PatientOut", "Registered", headers={"Location": True}, example=examples.PATIENT),
    200: answer_doc("PatientOut", "What an earlier request with this Idempotency-Key created (nothing new)",
                    headers={"Idempotent-Replayed": True}, example=examples.PATIENT),
}
ONE = {200: answer_doc("PatientOut", "The record", example=examples.PATIENT)}


def _duplicate(mrn: str) -> ApiError:
    return ApiError(409, "Duplicate", f"A patient with MRN {mrn} exists already.", kind="duplicate",
                    errors={"mrn": "Already registered."})


def _get(patient_id) -> Patient:
    patient = db.session.get(Patient, patient_id)
    if patient is None:
        raise NotFound(f"No patient with id {patient_id}.")
    return patient


@api.post("", responses=CREATED | problems(409))
@requires(CAN_REGISTER_PATIENTS)
def register_patient(body: PatientIn, header: IdempotencyHeader):
    """Register a patient; the MRN must be new (409 otherwise)."""
    key = claim(api_user(), header.idempotency_key, request.get_json())
    if key.is_replay:
        return json_response(PatientOut.model_validate(_get(key.replay_resource_id)), key.replay_status,
                             {"Idempotent-Replayed": "true"})
    if db.session.scalar(select(Patient.id).where(Patient.mrn == body.mrn)) is not None:
        raise _duplicate(body.mrn)
    patient = Patient(**body.model_dump())
    db.session.add(patient)
    try:
        db.session.flush()
    except IntegrityError:
        raise _duplicate(body.mrn) from None
    key.record(patient.id, 201)
    db.session.commit()
    return json_response(PatientOut.model_validate(patient), 201, {"Location": f"/api/v1/patients/{patient.id}"})


@api.get("", responses={200: PatientList})
@requires(CAN_VIEW_ORDERS)
def list_patients(query: PatientQuery):
    """Patients, newest first; q finds them by name or MRN (webapp.patients.search)."""
    statement = select(Patient)
    condition = patient_matches(query.q)
    if condition is not None:
        statement = statement.where(condition)
    shown, next_cursor = keyset_page(statement, Patient.created_at, Patient.id, cursor=query.cursor, limit=query.limit)
    record_read(api_user(), "patient list", [p.id for p in shown])
    return json_response(PatientList(items=[PatientOut.model_validate(p) for p in shown], next_cursor=next_cursor))


@api.get("/<uuid:id>", responses=ONE | problems(404))
@requires(CAN_VIEW_ORDERS)
def get_patient(path: PatientPath):
    """One patient."""
    patient = _get(path.id)
    record_read(api_user(), "patient record", [patient.id])
    return json_response(PatientOut.model_validate(patient))
