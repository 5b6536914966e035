"""What the app keeps of the PACS: the studies Orthanc received, and how far its change feed was read.

A study is recorded once per Orthanc study (``orthanc_id`` is unique); a study that arrives
again with more images updates its row. ``order_id`` is set when the study is matched to an
order (one study per order); a study without an order is held for review (``hold_reason``).
The order itself changes only through ``webapp.imaging.services``.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.db_types import UTCDateTime, utcnow
from webapp.extensions import db

FOLLOW_POSITION = "changes"  # the row of PacsFollowState the follower keeps its place in


class PacsStudy(db.Model):
    __tablename__ = "pacs_studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    orthanc_id: Mapped[str] = mapped_column(String(64), unique=True)
    study_instance_uid: Mapped[str] = mapped_column(String(64), index=True)
    accession_number: Mapped[str | None] = mapped_column(String(64), index=True)
    # The study's own patient (DICOM Patient ID, name and birth date), checked against the
    # order's patient by webapp.patients.identity (webapp.pacs.reconcile.study_mismatch).
    dicom_patient_id: Mapped[str | None] = mapped_column(String(64))
    patient_name: Mapped[str | None] = mapped_column(String(200))
    patient_birth_date: Mapped[date | None] = mapped_column(Date)
    study_date: Mapped[date | None] = mapped_column(Date)
    description: Mapped[str | None] = mapped_column(Text)
    modalities: Mapped[str] = mapped_column(String(64), default="")
    series_count: Mapped[int] = mapped_column(Integer, default=0)
    instance_count: Mapped[int] = mapped_column(Integer, default=0)
    # [{"id", "modality", "description", "number", "instances", "preview"}], in series order;
    # "preview" is the Orthanc id of the series' middle image (the thumbnail).
    series: Mapped[list] = mapped_column(JSON, default=list)
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("imaging_orders.id"), unique=True)
    hold_reason: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    matched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    matched_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))

    order = relationship("ImagingOrder")

    @property
    def is_matched(self) -> bool:
        return self.order_id is not None

    @property
    def patient_name_shown(self) -> str:
        """DICOM person names are Family^Given^…: shown with spaces."""
        return " ".join(part for part in (self.patient_name or "").split("^") if part)


class PacsFollowState(db.Model):
    """Where the follower is in Orthanc's change feed (the last change ``Seq`` it has handled)."""

    __tablename__ = "pacs_follow_state"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_change: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
