"""Who an MPPS N-CREATE is about and who ran it.

The accession number alone does not make a step the order's: the step must name the order's
patient by the one identity rule (webapp.patients.identity): the Patient ID is the order's MRN
(any case), a Patient's Name, when sent, carries the order's family name (any case, accents
optional: some scanners keep only ASCII; Ł, ø, ß fold too; a family name the worklist cut with
"..." matches the whole name), and a Patient's Birth Date, when sent, is the patient's. The
Operators' Name becomes the
performing technician when it names exactly one enabled technician (by username or full name);
otherwise it is kept as text on the order's timeline. No user is ever created from it.
"""

from __future__ import annotations

from datetime import date, datetime

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from sqlalchemy import select

from webapp.auth.models import User
from webapp.dicom.values import LO, text
from webapp.extensions import db
from webapp.imaging.models import ImagingOrder
from webapp.patients.identity import Sent, fold, identity_mismatch, whole_name_holds_family


def _name_components(value: object) -> list[str]:
    """Family, given and middle name of a PN value's alphabetic group."""
    return str(value or "").split("=")[0].split("^")[:3]


def sent_patient(ds: Dataset) -> tuple[str, str]:
    """The Patient ID and Patient's Name the step names (empty when absent)."""
    return text(ds.get("PatientID"), LO), text(ds.get("PatientName"), LO * 5)


def sent_birth_date(ds: Dataset) -> date | None:
    """Patient's Birth Date (DA, YYYYMMDD) when sent and readable; None otherwise."""
    value = text(ds.get("PatientBirthDate"), 8)
    try:
        return datetime.strptime(value, "%Y%m%d").date() if value else None
    except ValueError:
        return None


def patient_mismatch(ds: Dataset, order: ImagingOrder) -> str | None:
    """Why the step is not for the order's patient, or None when it is."""
    patient_id, name = sent_patient(ds)
    if not patient_id:
        return "no Patient ID"
    components = _name_components(name)
    family = components[0].strip()
    patient = order.patient
    # A name sent in one piece ("Kwame Mensah") holds the family name among its words.
    if family and len(components) == 1 and whole_name_holds_family(patient.last_name, family):
        family = ""
    reason = identity_mismatch(patient, Sent(mrn=patient_id, family_name=family or None,
                                             birth_date=sent_birth_date(ds)))
    if reason is None:
        return None
    if reason.startswith("patient ID"):
        return f"Patient ID {patient_id} is not the order's"
    if reason.startswith("family name"):
        return f"Patient's Name {name} is not the order's"
    return f"Patient's Birth Date {text(ds.get('PatientBirthDate'), 8)} is not the order's"


def operator_name(ds: Dataset) -> str:
    """The first Operators' Name of the step, as sent ("" when none)."""
    value = ds.get("OperatorsName")
    values = value if isinstance(value, MultiValue) else [value]
    return next((text(v, LO * 5) for v in values if text(v, LO * 5)), "")


def find_technician(name: str) -> User | None:
    """The one enabled technician the operator's name means: by username, or by the words of the full name."""
    wanted = fold(name)
    words = sorted(fold(" ".join(_name_components(name))).split())
    if not wanted:
        return None
    technicians = db.session.scalars(select(User).where(User.role == "technician", User.is_enabled.is_(True)))
    matches = [
        user for user in technicians
        if fold(user.username) == wanted or (user.full_name and sorted(fold(user.full_name).split()) == words)
    ]
    return matches[0] if len(matches) == 1 else None


def operator_note(name: str, technician: User | None) -> str | None:
    """What the timeline says about the operator."""
    if not name:
        return None
    if technician is not None:
        return f"Operator: {technician.display_name} ({technician.username})."
    return f"Operator: {name} (no single technician of that name; kept as text)."
