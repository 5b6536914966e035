"""The patient a message's PID names, by the one identity rule (webapp.patients.identity).

PID-3 is the MRN (component 1) and its assigning authority (component 4). A patient is found by
the MRN in any case; a record merged away by ADT^A40 resolves to its survivor. What PID says of the
patient must then agree with ours: the assigning authority where both sides have one, the family
name (PID-5.1, without accents or case) and the birth date (PID-7). An order or a registration
that disagrees is refused (AE "patient demographics differ"); only ADT^A08 changes them.

A patient unknown to us is registered from PID in an upsert (INSERT ... ON CONFLICT DO NOTHING
on the MRN key, then the row locked), so messages that arrive at once for one new MRN make one
patient and are then placed one after the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from webapp.db_types import new_uuid, utcnow
from webapp.extensions import db
from webapp.hl7.mapping import SEX_FROM_CODE
from webapp.hl7.refusal import BAD_TYPE, REQUIRED, Refusal
from webapp.patients.identity import Sent, identity_mismatch, mrn_key, nfc
from webapp.patients.models import Patient, search_key
from webapp.patients.queries import patient_by_mrn

DEMOGRAPHICS_DIFFER = "patient demographics differ"


def hl7_date(value: str, what: str) -> date | None:
    if not value:
        return None
    try:
        return datetime.strptime(value[:8], "%Y%m%d").date()
    except ValueError:
        raise Refusal("AE", f"{what} {value!r} is not a date (YYYYMMDD).", BAD_TYPE) from None


@dataclass(frozen=True)
class Pid:
    """What PID says of the patient."""

    mrn: str
    issuer: str | None
    last_name: str
    first_name: str
    birth_date: date | None
    sex: str

    @classmethod
    def of(cls, incoming, segment: str = "PID") -> Pid:
        mrn = incoming.value(segment, 3, required="patient identifier, the MRN")
        if len(mrn) > 32:
            raise Refusal("AE", f"{segment}-3 (MRN) is longer than 32 characters.", BAD_TYPE)
        issuer = incoming.value(segment, 3, 4) or None
        return cls(
            mrn=mrn, issuer=issuer[:64] if issuer else None,
            last_name=nfc(incoming.value(segment, 5, 1))[:64], first_name=nfc(incoming.value(segment, 5, 2))[:64],
            birth_date=hl7_date(incoming.value(segment, 7), f"{segment}-7"),
            sex=SEX_FROM_CODE.get(incoming.value(segment, 8).upper(), "unknown"),
        )

    def require_demographics(self) -> None:
        """A new patient needs a family name, a given name and a birth date."""
        for value, what in ((self.last_name, "PID-5.1 (family name)"), (self.first_name, "PID-5.2 (given name)"),
                            (self.birth_date, "PID-7 (date of birth)")):
            if not value:
                raise Refusal("AE", f"{what} is required to register the patient.", REQUIRED)


def issuers_agree(ours: str | None, theirs: str | None) -> bool:
    """The assigning authorities agree where both sides have one (any case)."""
    return not ours or not theirs or ours.strip().casefold() == theirs.strip().casefold()


def mismatch(patient: Patient, pid: Pid, *, resolved_by_mrn: bool) -> str | None:
    """Why PID is not ``patient``, or None. ``resolved_by_mrn``: PID-3 already led to this patient
    (perhaps through a merge), so only the second identifier is compared."""
    if not issuers_agree(patient.mrn_issuer, pid.issuer):
        return f"assigning authority {pid.issuer} is not {patient.mrn_issuer}"
    sent = Sent(mrn=None if resolved_by_mrn else pid.mrn, family_name=pid.last_name or None, birth_date=pid.birth_date)
    return identity_mismatch(patient, sent)


def refuse_if_differs(patient: Patient, pid: Pid) -> None:
    reason = mismatch(patient, pid, resolved_by_mrn=True)
    if reason is not None:
        raise Refusal("AE", f"{DEMOGRAPHICS_DIFFER}: {reason} (MRN {patient.mrn}).", "204^Unknown key identifier^HL70357")


def upsert_patient(pid: Pid) -> tuple[Patient, bool]:
    """The patient of PID-3, registered from PID when new; its row locked. (patient, created)."""
    patient = patient_by_mrn(pid.mrn, lock=True)
    if patient is not None:
        return patient, False
    pid.require_demographics()
    values = {
        "id": new_uuid(), "mrn": pid.mrn, "mrn_key": mrn_key(pid.mrn), "mrn_issuer": pid.issuer,
        "first_name": pid.first_name, "last_name": pid.last_name, "date_of_birth": pid.birth_date, "sex": pid.sex,
        "created_at": utcnow(), "search_key": search_key(pid.last_name, pid.first_name, pid.mrn),
    }
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    inserted = db.session.execute(
        dialect.insert(Patient).values(**values).on_conflict_do_nothing(index_elements=["mrn_key"])
        .returning(Patient.id)
    ).scalar()
    patient = db.session.scalar(select(Patient).where(Patient.mrn_key == values["mrn_key"]).with_for_update()
                                .execution_options(populate_existing=True))
    return patient, inserted is not None
