"""Reading the patient access log back: the reads that showed one patient, for ``audit access``."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from webapp.audit.models import PatientAccessLog, PatientAccessLogPatient
from webapp.extensions import db
from webapp.patients.identity import mrn_key
from webapp.patients.models import Patient


def find_patient_id(text: str) -> uuid.UUID | None:
    """The patient an id or an MRN names (an id is taken as given: the log outlives records)."""
    text = text.strip()
    try:
        return uuid.UUID(text)
    except ValueError:
        return db.session.scalar(select(Patient.id).where(Patient.mrn_key == mrn_key(text)))


def access_rows(patient_id: uuid.UUID, limit: int) -> list[tuple[PatientAccessLog, int]]:
    """The reads that showed the patient, newest first, each with how many patients it showed."""
    shown = (select(func.count()).where(PatientAccessLogPatient.access_id == PatientAccessLog.id)
             .correlate(PatientAccessLog).scalar_subquery())
    statement = (
        select(PatientAccessLog, shown)
        .join(PatientAccessLogPatient, PatientAccessLogPatient.access_id == PatientAccessLog.id)
        .where(PatientAccessLogPatient.patient_id == patient_id)
        .order_by(PatientAccessLogPatient.access_id.desc())  # the index (patient_id, access_id), backwards
        .limit(limit)
    )
    return [(row, count) for row, count in db.session.execute(statement).all()]


def subject_rows(patient_id_text: str, limit: int) -> list[tuple[PatientAccessLog, int]]:
    """The reads that showed a person who is no registered patient, by the Patient ID the source
    gave (``subjects`` holds "Patient ID (name)"), newest first, each with how many patients it showed."""
    key = " ".join(patient_id_text.split()).upper()
    if not key:
        return []
    shown = (select(func.count()).where(PatientAccessLogPatient.access_id == PatientAccessLog.id)
             .correlate(PatientAccessLog).scalar_subquery())
    named = func.upper("; " + PatientAccessLog.subjects)
    statement = (
        select(PatientAccessLog, shown)
        .where(PatientAccessLog.subjects.is_not(None), named.contains(f"; {key} (", autoescape=True))
        .order_by(PatientAccessLog.id.desc())
        .limit(limit)
    )
    return [(row, count) for row, count in db.session.execute(statement).all()]


def describe_access(row: PatientAccessLog, shown: int) -> str:
    """One line: when, who, what, the request (search term), from where, how many patients."""
    parts = [f"{row.accessed_at:%Y-%m-%d %H:%M:%S} UTC", f"{row.username} ({row.user_role})", row.what]
    if row.search:
        parts.append(f"search {row.search!r}")
    if row.request_path:
        parts.append(row.request_path)
    if row.remote_addr:
        parts.append(f"from {row.remote_addr}")
    if row.subjects:
        parts.append(f"unregistered: {row.subjects}")
    parts.append("this patient only" if shown == 1 else f"{shown} patients shown")
    return " | ".join(parts)
