"""The minimal visits orders are placed from: POST/GET /api/v1/visits, GET /api/v1/visits/{id}."""

from __future__ import annotations

from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp.api import examples
from webapp.api.common import Records, get_or_404, json_response, problems, resource_blueprint
from webapp.api.idempotency import create_once
from webapp.api.schemas import IdempotencyHeader, VisitIn, VisitList, VisitOut, VisitPath, VisitQuery
from webapp.api.security import api_user, requires
from webapp.audit import record_read
from webapp.auth.roles import CAN_OPEN_VISITS, CAN_VIEW_ORDERS
from webapp.paging import keyset_page
from webapp.patients.models import Patient
from webapp.visits import services
from webapp.visits.models import Visit

api = resource_blueprint("visits", __name__, "/api/v1/visits", "Visits")
VISITS = Records(Visit, VisitOut, examples.VISIT)


@api.post("", responses=VISITS.created | problems(404))
@requires(CAN_OPEN_VISITS)
def open_visit(body: VisitIn, header: IdempotencyHeader):
    """Open a visit for a patient, with its diagnoses (ICD-10 code and description) in order."""
    return create_once(header.idempotency_key, partial(_open, body), load=VISITS.get, respond=VISITS.answer)


def _open(body: VisitIn) -> Visit:
    return services.open_visit(body.patient_id, reason=body.reason, visit_date=body.visit_date,
                               clinical_notes=body.clinical_notes,
                               diagnoses=[(d.code, d.description) for d in body.diagnoses])


@api.get("", responses={200: VisitList} | problems(404))
@requires(CAN_VIEW_ORDERS)
def list_visits(query: VisitQuery):
    """Visits, newest first; patient_id keeps one patient's."""
    statement = select(Visit).options(selectinload(Visit.diagnoses))
    if query.patient_id:
        get_or_404(Patient, query.patient_id)
        statement = statement.where(Visit.patient_id == query.patient_id)
    shown, next_cursor = keyset_page(statement, Visit.visit_date, Visit.id, cursor=query.cursor, limit=query.limit)
    record_read(api_user(), "visit list", [query.patient_id, *(v.patient_id for v in shown)])
    return json_response(VisitList(items=[VisitOut.model_validate(v) for v in shown], next_cursor=next_cursor))


@api.get("/<uuid:id>", responses=VISITS.one | problems(404))
@requires(CAN_VIEW_ORDERS)
def get_visit(path: VisitPath):
    """One visit with its diagnoses."""
    visit = VISITS.get(path.id)
    record_read(api_user(), f"visit of {visit.visit_date:%Y-%m-%d}", [visit.patient_id])
    return VISITS.answer(visit)
