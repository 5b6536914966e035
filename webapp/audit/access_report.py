"""Reading the patient access log back: the reads that showed one patient, for ``audit access``."""

from __future__ import annotations

import uuid

from flask import current_app
from sqlalchemy import func, select, union

from webapp.audit.access import flush_batches
from webapp.audit.models import PatientAccessLog, PatientAccessLogPatient, PatientAccessSetPatient
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


def _shown_count():
    """How many patients an access row showed: its own rows and its set's."""
    own = (select(func.count()).where(PatientAccessLogPatient.access_id == PatientAccessLog.id)
           .correlate(PatientAccessLog).scalar_subquery())
    in_set = (select(func.count()).where(PatientAccessSetPatient.set_id == PatientAccessLog.patient_set_id)
              .correlate(PatientAccessLog).scalar_subquery())
    return own + in_set


def access_rows(patient_id: uuid.UUID, limit: int) -> list[tuple[PatientAccessLog, int]]:
    """The reads that showed the patient, newest first, each with how many patients it showed:
    rows naming the patient, and rows naming a stored set the patient is in (a shared live region)."""
    flush_batches(current_app)  # this process's queued rows first (webapp.audit.access)
    own = (select(PatientAccessLogPatient.access_id.label("id"))
           .where(PatientAccessLogPatient.patient_id == patient_id)
           .order_by(PatientAccessLogPatient.access_id.desc()).limit(limit))  # (patient_id, access_id), backwards
    sets = select(PatientAccessSetPatient.set_id).where(PatientAccessSetPatient.patient_id == patient_id)
    via_set = (select(PatientAccessLog.id.label("id")).where(PatientAccessLog.patient_set_id.in_(sets))
               .order_by(PatientAccessLog.id.desc()).limit(limit))
    ids = union(own.subquery().select(), via_set.subquery().select()).subquery()
    statement = (
        select(PatientAccessLog, _shown_count())
        .where(PatientAccessLog.id.in_(select(ids.c.id)))
        .order_by(PatientAccessLog.id.desc())
        .limit(limit)
    )
    return [(row, count) for row, count in db.session.execute(statement).all()]


def subject_rows(patient_id_text: str, limit: int) -> list[tuple[PatientAccessLog, int]]:
    """The reads that showed a person who is no registered patient, by the Patient ID the source
    gave (``subjects`` holds "Patient ID (name)"), newest first, each with how many patients it showed."""
    key = " ".join(patient_id_text.split()).upper()
    if not key:
        return []
    flush_batches(current_app)
    shown = _shown_count()
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
