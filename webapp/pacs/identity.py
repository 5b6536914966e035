"""The identity rule for PACS studies: is this study of the order's patient?

A study names its patient by DICOM Patient ID (0010,0020), Patient's Name (0010,0010) and
Patient's Birth Date (0010,0030) (DICOM PS3.3 C.7.1.1). It is the order's patient only when the
one rule of every edge agrees (:func:`webapp.patients.identity.identity_mismatch`): the Patient
ID is the MRN (any case), the family name agrees (folded, or cut by the worklist), and the birth
dates agree where both sides have one. A study without a Patient ID or a family name is nobody's.
Automatic matching (webapp.pacs.matching) and matching by hand (webapp.pacs.reconcile) ask here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from webapp.dicom.values import person_name
from webapp.errors import ServiceError
from webapp.patients.identity import Sent, identity_mismatch


@dataclass(frozen=True)
class Identity:
    """A patient as a study or an order names it: ID, DICOM name (Family^Given), birth date."""

    patient_id: str | None
    name: str | None
    birth_date: date | None

    @property
    def shown_name(self) -> str:
        return " ".join(part for part in (self.name or "").split("^") if part) or "no name"

    @property
    def text(self) -> str:
        born = self.birth_date.isoformat() if self.birth_date else "no birth date"
        return f"{self.patient_id or 'no Patient ID'}, {self.shown_name}, born {born}"

    def as_json(self) -> dict:
        return {"patient_id": self.patient_id, "patient_name": self.name,
                "birth_date": self.birth_date.isoformat() if self.birth_date else None}


class StudyOfAnotherPatient(ServiceError, status=409, title="The study is of another patient",
                            kind="study-of-another-patient"):
    """A held study names another patient than the order's: not matched (correct it in the PACS)."""

    def __init__(self, detail: str, *, order_id, study_uid: str, study: Identity, patient: Identity,
                 why: str) -> None:
        super().__init__(detail)
        self.order_id, self.study_uid, self.study, self.patient, self.why = order_id, study_uid, study, patient, why

    def extra(self) -> dict:
        return {"study_patient": self.study.as_json(), "order_patient": self.patient.as_json()}


def study_identity(study) -> Identity:
    """What a recorded study (PacsStudy) or a study read from Orthanc (StudySummary) names."""
    patient_id = study.dicom_patient_id if hasattr(study, "dicom_patient_id") else study.patient_id
    return Identity(patient_id, study.patient_name, study.patient_birth_date)


def patient_identity(patient) -> Identity:
    return Identity(patient.mrn, person_name(patient.last_name, patient.first_name), patient.date_of_birth)


def family_name(dicom_name: str | None) -> str:
    """The family name of a DICOM PN (``Family^Given^…``; the alphabetic group before any ``=``)."""
    return str(dicom_name or "").split("=")[0].split("^")[0].strip()


def study_mismatch(patient, study: Identity) -> str | None:
    """Why the study is not this patient's (None when it is): the one identity rule, with the
    family name required (a study names its patient) and no Patient ID counting as another one."""
    if not (study.patient_id or "").strip():
        return "the study carries no Patient ID"
    return identity_mismatch(patient, Sent(study.patient_id, family_name(study.name), study.birth_date),
                             require_name=True)


def check_same_patient(study, order) -> None:
    """Raise :class:`StudyOfAnotherPatient` when the study is not of the order's patient."""
    theirs, ours = study_identity(study), patient_identity(order.patient)
    why = study_mismatch(order.patient, theirs)
    if why is None:
        return
    raise StudyOfAnotherPatient(
        f"Not matched: study {study.study_instance_uid} is of another patient ({why}). The study names "
        f"{theirs.text}; order {order.accession_number} is for {ours.text}. Nothing was changed. If the "
        "images are of the order's patient, correct the study in the PACS (an admin, with a reason).",
        order_id=order.id, study_uid=study.study_instance_uid, study=theirs, patient=ours, why=why)
