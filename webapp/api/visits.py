"""The minimal visits orders are placed from: POST/GET /api/v1/visits, GET /api/v1/visits/{id}."""

from __future__ import annotations

from flask import request
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp.api import examples
from webapp.api.common import answer as answer_doc
from webapp.api.common import json_response, problems, resource_blueprint
from webapp.api.idempotency import claim
from webapp.api.schemas import IdempotencyHeader, VisitIn, VisitList, VisitOut, VisitPath, VisitQuery
from webapp.api.security import api_user, requires
from webapp.audit import record_read
from webapp.auth.roles import CAN_OPEN_VISITS, CAN_VIEW_ORDERS
from webapp.db_types import utcnow
from webapp.errors import NotFound
from webapp.extensions import db
from webapp.paging import keyset_page
from webapp.patients.models import Patient
from webapp.visits.models import Diagnosis, Visit

api = resource_blueprint("visits", __name__, "/api/v1/visits", "Visits")
CREATED = {
    201: answer_doc("VisitOut", "Registered", headers={"Location": True}, example=examples.VISIT),
    200: answer_doc("VisitOut", "What an earlier request with this Idempotency-Key created (nothing new)",
                    headers={"Idempotent-Replayed": True}, example=examples.VISIT),
}
ONE = {200: answer_doc("VisitOut", "The record", example=examples.VISIT)}


def _get(visit_id) -> Visit:
    visit = db.session.get(Visit, visit_id)
    if visit is None:
        raise NotFound(f"No visit with id {visit_id}.")
    return visit


@api.post("", responses=CREATED | problems(404))
@requires(CAN_OPEN_VISITS)
def open_visit(body: VisitIn, header: IdempotencyHeader):
    """Open a visit for a patient, with its diagnoses (ICD-10 code and description) in order."""
    key = claim(api_user(), header.idempotency_key, request.get_json())
    if key.is_replay:
        return json_response(VisitOut.model_validate(_get(key.replay_resource_id)), key.replay_status,
                             {"Idempotent-Replayed": "true"})
    if db.session.get(Patient, body.patient_id) is None:
        raise NotFound(f"No patient with id {body.patient_id}.")
    visit = Visit(patient_id=body.patient_id, visit_date=body.visit_date or utcnow(), reason=body.reason,
                  clinical_notes=body.clinical_notes)
    for position, diagnosis in enumerate(body.diagnoses):
        visit.diagnoses.append(Diagnosis(code=diagnosis.code, description=diagnosis.description, position=position))
    db.session.add(visit)
    db.session.flush()
    key.record(visit.id, 201)
    db.session.commit()
    return json_response(VisitOut.model_validate(visit), 201, {"Location": f"/api/v1/visits/{visit.id}"})


@api.get("", responses={200: VisitList} | problems(404))
@requires(CAN_VIEW_ORDERS)
def list_visits(query: VisitQuery):
    """Visits, newest first; patient_id keeps one patient's."""
    statement = select(Visit).options(selectinload(Visit.diagnoses))
    if query.patient_id:
        if db.session.get(Patient, query.patient_id) is None:
            raise NotFound(f"No patient with id {query.patient_id}.")
        statement = statement.where(Visit.patient_id == query.patient_id)
    shown, next_cursor = keyset_page(statement, Visit.visit_date, Visit.id, cursor=query.cursor, limit=query.limit)
    record_read(api_user(), "visit list", [query.patient_id, *(v.patient_id for v in shown)])
    return json_response(VisitList(items=[VisitOut.model_validate(v) for v in shown], next_cursor=next_cursor))


@api.get("/<uuid:id>", responses=ONE | problems(404))
@requires(CAN_VIEW_ORDERS)
def get_visit(path: VisitPath):
    """One visit with its diagnoses."""
    visit = _get(path.id)
    record_read(api_user(), f"visit of {visit.visit_date:%Y-%m-%d}", [visit.patient_id])
    return json_response(VisitOut.model_validate(visit))
