"""Opening a visit with its diagnoses: the one service the API (POST /api/v1/visits) and the page
(/patients/{id}/visits/new) both call. Flushes, never commits."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from webapp.db_types import utcnow
from webapp.extensions import db
from webapp.patients.queries import get_patient
from webapp.visits.models import Diagnosis, Visit


def open_visit(patient_id, *, reason: str, visit_date: datetime | None = None, clinical_notes: str | None = None,
               diagnoses: Iterable[tuple[str, str]] = ()) -> Visit:
    """A visit of the patient (NotFound for an unknown one), its diagnoses (ICD-10 code,
    description) kept in the order given: the first is the primary diagnosis."""
    patient = get_patient(patient_id)
    visit = Visit(patient_id=patient.id, visit_date=visit_date or utcnow(), reason=reason, clinical_notes=clinical_notes)
    for position, (code, description) in enumerate(diagnoses):
        visit.diagnoses.append(Diagnosis(code=code, description=description, position=position))
    db.session.add(visit)
    db.session.flush()
    return visit
