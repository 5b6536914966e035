"""Registering a patient: the one service the API (POST /api/v1/patients) and the page
(/patients/new) both call. Services flush, never commit (the caller commits).

A new MRN is required (409 :class:`DuplicatePatient` otherwise). Before a second record is made
for one person, :func:`same_person` finds the patients with the same birth date whose family and
given names agree once folded (webapp.patients.identity: no accents, case or punctuation); the
page warns of them and registers only when the user confirms it is another person.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.errors import ServiceError
from webapp.extensions import db
from webapp.patients.identity import mrn_key, name_token
from webapp.patients.models import Patient


class DuplicatePatient(ServiceError, status=409, title="Duplicate", kind="duplicate"):
    """The MRN is registered already."""

    def __init__(self, mrn: str, existing_id=None) -> None:
        super().__init__(f"A patient with MRN {mrn} exists already.", {"mrn": "Already registered."})
        self.existing_id = existing_id


def _mrn_holder(mrn: str):
    """The patient holding this MRN in any case ("casemrn1" is "CASEmrn1": webapp.patients.identity)."""
    return db.session.scalar(select(Patient.id).where(Patient.mrn_key == mrn_key(mrn)))


def register_patient(*, mrn: str, first_name: str, last_name: str, date_of_birth: date, sex: str) -> Patient:
    """A new patient (flushed); DuplicatePatient when the MRN is taken (also by a concurrent insert)."""
    existing = _mrn_holder(mrn)
    if existing is not None:
        raise DuplicatePatient(mrn, existing)
    patient = Patient(mrn=mrn, first_name=first_name, last_name=last_name, date_of_birth=date_of_birth, sex=sex)
    db.session.add(patient)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise DuplicatePatient(mrn, _mrn_holder(mrn)) from None
    return patient


def same_person(*, first_name: str, last_name: str, date_of_birth: date) -> list[Patient]:
    """Registered patients born that day whose family and given names agree with these, folded
    ("Zoë Ångström" is "ZOE ANGSTROM")."""
    family, given = name_token(last_name), name_token(first_name)
    if not family:
        return []
    born = db.session.scalars(select(Patient).where(Patient.date_of_birth == date_of_birth).order_by(Patient.mrn))
    return [p for p in born if name_token(p.last_name) == family and name_token(p.first_name) == given]
