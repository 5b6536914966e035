"""Reading patients and their visits: one by id, and the patients page's search
(webapp.patients.search)."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import select

from webapp.errors import NotFound
from webapp.extensions import db
from webapp.patients.identity import mrn_key
from webapp.patients.models import Patient
from webapp.patients.search import patient_matches

SEARCH_LIMIT = 50
T = TypeVar("T")


def _get(model: type[T], record_id: Any, what: str) -> T:
    try:
        key = record_id if isinstance(record_id, uuid.UUID) else uuid.UUID(str(record_id))
    except ValueError:
        raise NotFound(f"No {what} with id {record_id}.") from None
    record = db.session.get(model, key)
    if record is None:
        raise NotFound(f"No {what} with id {record_id}.")
    return record


def get_patient(patient_id: Any) -> Patient:
    """The patient with this id (a UUID or its text); NotFound when there is none or the id is no UUID."""
    return _get(Patient, patient_id, "patient")


def patient_by_mrn(mrn: object, *, follow_merges: bool = True, lock: bool = False) -> Patient | None:
    """The patient an MRN names, in any case; a record merged away (ADT^A40) resolves to its survivor.

    ``lock``: the row is locked for the transaction (PostgreSQL ``FOR UPDATE``).
    """
    key = mrn_key(mrn)
    if not key:
        return None
    statement = select(Patient).where(Patient.mrn_key == key)
    if lock:
        statement = statement.with_for_update()
    patient = db.session.scalar(statement)
    seen = set()
    while follow_merges and patient is not None and patient.merged_into_id is not None and patient.id not in seen:
        seen.add(patient.id)
        patient = db.session.get(Patient, patient.merged_into_id)
    return patient


def get_visit(visit_id: Any):
    """The visit with this id (a UUID or its text); NotFound when there is none or the id is no UUID."""
    from webapp.visits.models import Visit  # the visits package imports this module

    return _get(Visit, visit_id, "visit")


def search_patients(text: str | None, limit: int = SEARCH_LIMIT) -> list[Patient]:
    """Patients by name, first name and id, those the text finds (all when it is empty); at most ``limit``."""
    statement = select(Patient).order_by(Patient.last_name, Patient.first_name, Patient.id).limit(limit)
    condition = patient_matches(text)
    if condition is not None:
        statement = statement.where(condition)
    return list(db.session.scalars(statement))
