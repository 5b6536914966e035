"""The minimal patient records orders hang on: POST/GET /api/v1/patients, GET /api/v1/patients/{id}."""

from __future__ import annotations

from functools import partial

from sqlalchemy import select

from webapp.api import examples
from webapp.api.common import Records, json_response, problems, resource_blueprint
from webapp.api.idempotency import create_once
from webapp.api.schemas import IdempotencyHeader, PatientIn, PatientList, PatientOut, PatientPath, PatientQuery
from webapp.api.security import api_user, requires
from webapp.audit import record_read
from webapp.auth.roles import CAN_REGISTER_PATIENTS, CAN_VIEW_ORDERS
from webapp.paging import keyset_page
from webapp.patients import registration
from webapp.patients.models import Patient
from webapp.patients.search import patient_matches

api = resource_blueprint("patients", __name__, "/api/v1/patients", "Patients")
PATIENTS = Records(Patient, PatientOut, examples.PATIENT)


def _register(body: PatientIn) -> Patient:
    return registration.register_patient(**body.model_dump())


@api.post("", responses=PATIENTS.created | problems(409))
@requires(CAN_REGISTER_PATIENTS)
def register_patient(body: PatientIn, header: IdempotencyHeader):
    """Register a patient; the MRN must be new (409 otherwise)."""
    return create_once(header.idempotency_key, partial(_register, body), load=PATIENTS.get, respond=PATIENTS.answer)


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


@api.get("/<uuid:id>", responses=PATIENTS.one | problems(404))
@requires(CAN_VIEW_ORDERS)
def get_patient(path: PatientPath):
    """One patient."""
    patient = PATIENTS.get(path.id)
    record_read(api_user(), "patient record", [patient.id])
    return PATIENTS.answer(patient)
