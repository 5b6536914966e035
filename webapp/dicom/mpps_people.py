"""Who an MPPS N-CREATE is about and who ran it.

The accession number alone does not make a step the order's: the Patient ID the scanner sends
must be the order's MRN, and a Patient's Name, when sent, must carry the order's family name
(any case, accents optional: some scanners keep only ASCII). The Operators' Name becomes the
performing technician when it names exactly one enabled technician (by username or full name);
otherwise it is kept as text on the order's timeline. No user is ever created from it.
"""

from __future__ import annotations

import unicodedata

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from sqlalchemy import select

from webapp.auth.models import User
from webapp.dicom.values import LO, text
from webapp.extensions import db
from webapp.imaging.models import ImagingOrder


def fold(value: object) -> str:
    """A name as compared here: no accents, no case, single spaces."""
    decomposed = unicodedata.normalize("NFKD", str(value or ""))
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(plain.casefold().split())


def _name_components(value: object) -> list[str]:
    """Family, given and middle name of a PN value's alphabetic group."""
    return str(value or "").split("=")[0].split("^")[:3]


def sent_patient(ds: Dataset) -> tuple[str, str]:
    """The Patient ID and Patient's Name the step names (empty when absent)."""
    return text(ds.get("PatientID"), LO), text(ds.get("PatientName"), LO * 5)


def patient_mismatch(ds: Dataset, order: ImagingOrder) -> str | None:
    """Why the step is not for the order's patient, or None when it is."""
    patient_id, name = sent_patient(ds)
    if not patient_id:
        return "no Patient ID"
    if patient_id != order.patient.mrn:
        return f"Patient ID {patient_id} is not the order's"
    components = _name_components(name)
    family = fold(components[0])
    ours = fold(order.patient.last_name)
    if not family or family == ours:
        return None
    # A name sent in one piece ("Kwame Mensah") holds the family name among its words.
    if len(components) == 1 and f" {ours} " in f" {family} ":
        return None
    return f"Patient's Name {name} is not the order's"


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
