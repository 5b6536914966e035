"""Who looked at which patients' data, and when (append-only, like the order events).

One ``patient_access_log`` row per request that showed patient data (who, when, what, the
request and its search term), and one ``patient_access_log_patients`` row per patient that
request showed: a single order names one patient, a search or a list page names every patient
on it, so "who saw this patient" is one indexed lookup whichever way they were seen. A live
region shared by identical screens (webapp.web.live_cache) names its patients once, as a
``patient_access_sets`` row with its ``patient_access_set_patients``, and each viewer's access
row points at that set (``patient_set_id``): a second indexed lookup finds those reads.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.audit import chain  # noqa: F401  (seals order events before every flush)
from webapp.audit.guards import guard_on_create
from webapp.db_types import UTCDateTime, utcnow
from webapp.extensions import db
from webapp.imaging.models import OrderEvent


class PatientAccessLog(db.Model):
    __tablename__ = "patient_access_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    accessed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    # Kept as written at the time, so a renamed or removed account still shows who it was.
    username: Mapped[str] = mapped_column(String(64))
    user_role: Mapped[str] = mapped_column(String(16))
    what: Mapped[str] = mapped_column(String(200))
    # The request that showed it: "GET /api/v1/imaging/orders?q=…", and from where.
    request_path: Mapped[str | None] = mapped_column(String(300))
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    # The search term (q=) as typed, kept whole even when request_path is cut short.
    search: Mapped[str | None] = mapped_column(String(200))
    # People shown who are not registered patients, as the source named them: a PACS study's
    # DICOM Patient ID and name ("MRN-X (DOE JANE)"; "; " between people). Issue 26, item 13.
    subjects: Mapped[str | None] = mapped_column(Text)
    # A shared live region's patients, stored once as a set (issue 22): every viewer's row names
    # the set instead of repeating its rows (24 tablets × 170 patients for each event).
    # No foreign key (SQLite could not drop the column on downgrade); the set is committed before
    # any read names it (webapp.audit.access.patient_set_id).
    patient_set_id: Mapped[int | None] = mapped_column(Integer)

    patients: Mapped[list[PatientAccessLogPatient]] = relationship(
        viewonly=True, order_by="PatientAccessLogPatient.patient_id")
    set_patients: Mapped[list[PatientAccessSetPatient]] = relationship(
        primaryjoin="foreign(PatientAccessSetPatient.set_id) == PatientAccessLog.patient_set_id",
        viewonly=True, order_by="PatientAccessSetPatient.patient_id")

    __table_args__ = (
        Index("ix_patient_access_log_user_accessed", "user_id", "accessed_at"),
        Index("ix_patient_access_log_patient_set", "patient_set_id", "id"),
    )

    @property
    def patient_ids(self) -> set[uuid.UUID]:
        """Every patient the read showed: its own rows and its set's."""
        return {row.patient_id for row in self.patients} | {row.patient_id for row in self.set_patients}


class PatientAccessLogPatient(db.Model):
    """A patient whose data the access row's request showed."""

    __tablename__ = "patient_access_log_patients"

    access_id: Mapped[int] = mapped_column(ForeignKey("patient_access_log.id"), primary_key=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)

    __table_args__ = (
        Index("ix_patient_access_log_patients_patient", "patient_id", "access_id"),
    )


class PatientAccessSet(db.Model):
    """A set of patients that live regions showed, written once (``digest``: SHA-1 of the ids in
    UUID order, comma-separated) and named by every access row that showed exactly these."""

    __tablename__ = "patient_access_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    digest: Mapped[str] = mapped_column(String(40), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PatientAccessSetPatient(db.Model):
    """A patient of a set."""

    __tablename__ = "patient_access_set_patients"

    set_id: Mapped[int] = mapped_column(ForeignKey("patient_access_sets.id"), primary_key=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)

    __table_args__ = (
        Index("ix_patient_access_set_patients_patient", "patient_id", "set_id"),
    )


guard_on_create(OrderEvent.__table__)
guard_on_create(PatientAccessLog.__table__)
guard_on_create(PatientAccessLogPatient.__table__)
guard_on_create(PatientAccessSet.__table__)
guard_on_create(PatientAccessSetPatient.__table__)
