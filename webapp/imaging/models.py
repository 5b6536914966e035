"""Imaging orders, their reference data, their append-only event log and the dashboard's counts."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.db_types import UTCDateTime, new_uuid, utcnow
from webapp.extensions import db
from webapp.imaging.status_counts import count_on_create

STATUSES = ("ordered", "scheduled", "in_progress", "completed", "reported", "cancelled")
OPEN_STATUSES = ("ordered", "scheduled", "in_progress", "completed")
PRIORITIES = ("routine", "urgent", "stat")
LATERALITIES = ("left", "right", "bilateral")
CONTRASTS = ("none", "iodinated", "gadolinium")
CONTRAST_LABELS = {"none": "No contrast", "iodinated": "Iodinated contrast", "gadolinium": "Gadolinium contrast"}

STATUS_LABELS = {
    "ordered": "Ordered",
    "scheduled": "Scheduled",
    "in_progress": "In progress",
    "completed": "Completed",
    "reported": "Reported",
    "cancelled": "Cancelled",
}
PRIORITY_LABELS = {"routine": "Routine", "urgent": "Urgent", "stat": "STAT"}


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class ImagingModality(db.Model):
    __tablename__ = "imaging_modalities"

    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    # The DICOM Modality (0008,0060) value a scanner of this kind reports (XRAY is CR/DX).
    dicom_modality: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


class BodyPart(db.Model):
    __tablename__ = "body_parts"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # Codes of the modalities that can image this part (seed section 10).
    modalities: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Paired organs and limbs (left/right) take a laterality.
    is_paired: Mapped[bool] = mapped_column(Boolean, default=False)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


# Procedures (CPT codes) whose name fixes the side: the order's laterality must be this one.
FIXED_LATERALITY = {"77067": "bilateral", "77066": "bilateral"}


class Procedure(db.Model):
    """The procedure catalogue: one row per orderable exam with its CPT code."""

    __tablename__ = "imaging_procedures"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)  # CPT code
    name: Mapped[str] = mapped_column(String(200))
    modality: Mapped[str] = mapped_column(ForeignKey("imaging_modalities.code"), index=True)
    body_part: Mapped[str] = mapped_column(ForeignKey("body_parts.code"), index=True)
    requires_laterality: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # How long the exam usually takes: a booking occupies [start, start + this) on its scanner.
    # The seed sets MODALITY_MINUTES of its modality; administrators change it (/admin/durations).
    duration_minutes: Mapped[int] = mapped_column(Integer, default=15, server_default="15")
    # Safety screening (webapp.safety): the contrast an order of it takes unless the doctor says
    # otherwise, whether a radiologist must protocol it first, and the protocols to choose from.
    contrast: Mapped[str] = mapped_column(String(12), default="none", server_default="none")
    protocol_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    protocols: Mapped[list[str] | None] = mapped_column(JSON, default=list)

    @property
    def fixed_laterality(self) -> str | None:
        """The side the procedure itself fixes (bilateral mammography): another side contradicts it."""
        return FIXED_LATERALITY.get(self.code)


class OrderCounter(db.Model):
    """The last number handed out per year; rows are locked while an order takes its number."""

    __tablename__ = "order_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


class ImagingOrder(db.Model):
    __tablename__ = "imaging_orders"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    accession_number: Mapped[str] = mapped_column(String(20), unique=True)
    order_number: Mapped[str] = mapped_column(String(20), unique=True)

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visits.id"))
    ordered_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    diagnosis_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("diagnoses.id"))

    modality: Mapped[str] = mapped_column(ForeignKey("imaging_modalities.code"))
    body_part: Mapped[str] = mapped_column(ForeignKey("body_parts.code"))
    procedure_code: Mapped[str | None] = mapped_column(String(16))
    procedure_name: Mapped[str | None] = mapped_column(Text)
    laterality: Mapped[str | None] = mapped_column(String(10))

    clinical_indication: Mapped[str] = mapped_column(Text)
    clinical_history: Mapped[str | None] = mapped_column(Text)
    special_instructions: Mapped[str | None] = mapped_column(Text)

    status: Mapped[str] = mapped_column(String(16), default="ordered")
    priority: Mapped[str] = mapped_column(String(8), default="routine")

    ordered_date: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    scheduled_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    performed_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reported_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_date: Mapped[datetime | None] = mapped_column(UTCDateTime)

    scheduled_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    performing_technician: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    reporting_radiologist: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    cancelled_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    cancellation_reason: Mapped[str | None] = mapped_column(Text)

    report_text: Mapped[str | None] = mapped_column(Text)
    findings: Mapped[str | None] = mapped_column(Text)
    impression: Mapped[str | None] = mapped_column(Text)

    study_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    number_of_images: Mapped[int | None] = mapped_column(Integer)
    # The scanner the scheduler booked (its DICOM AE title); the worklist offers the order to it.
    scheduled_station_ae: Mapped[str | None] = mapped_column(ForeignKey("stations.ae_title"), index=True)

    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    # Safety screening (webapp.safety): the contrast, the alerts of the rules (a list of
    # {code, severity, message}), the stops a radiologist cleared (codes, who, when, why), the
    # protocol and the patient's arrival.
    contrast: Mapped[str] = mapped_column(String(12), default="none", server_default="none")
    safety_alerts: Mapped[list | None] = mapped_column(JSON, default=list)
    safety_cleared_codes: Mapped[list | None] = mapped_column(JSON, default=list)
    # Users' ids without a foreign key: SQLite adds such columns in place (no copy of the table).
    safety_cleared_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    safety_cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    safety_override_reason: Mapped[str | None] = mapped_column(Text)
    protocol_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    protocol: Mapped[str | None] = mapped_column(String(200))
    protocol_notes: Mapped[str | None] = mapped_column(Text)
    protocoled_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    protocoled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    patient = relationship("Patient", lazy="joined", innerjoin=True)
    visit = relationship("Visit")
    diagnosis = relationship("Diagnosis")
    modality_ref = relationship("ImagingModality", lazy="joined", innerjoin=True)
    body_part_ref = relationship("BodyPart", lazy="joined", innerjoin=True)
    ordering_doctor = relationship("User", foreign_keys=[ordered_by])
    scheduler = relationship("User", foreign_keys=[scheduled_by])
    technician = relationship("User", foreign_keys=[performing_technician])
    radiologist = relationship("User", foreign_keys=[reporting_radiologist])
    canceller = relationship("User", foreign_keys=[cancelled_by])
    safety_clearer = relationship("User", primaryjoin="foreign(ImagingOrder.safety_cleared_by) == User.id",
                                  viewonly=True)
    protocoller = relationship("User", primaryjoin="foreign(ImagingOrder.protocoled_by) == User.id", viewonly=True)
    scheduled_station = relationship("Station")
    events = relationship("OrderEvent", back_populates="order", order_by="OrderEvent.id")

    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status_valid"),
        CheckConstraint(_in("priority", PRIORITIES), name="priority_valid"),
        CheckConstraint(f"laterality IS NULL OR {_in('laterality', LATERALITIES)}", name="laterality_valid"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint(_in("contrast", CONTRASTS), name="contrast_valid"),
        # The list's default order and its keyset cursor (newest first).
        Index("ix_imaging_orders_ordered_date_id", "ordered_date", "id"),
        Index("ix_imaging_orders_status_ordered_date", "status", "ordered_date", "id"),
        Index("ix_imaging_orders_modality_ordered_date", "modality", "ordered_date", "id"),
        # The list filtered by status and modality (any mix); see bench/.
        Index("ix_imaging_orders_status_modality_ordered_date", "status", "modality", "ordered_date", "id"),
        Index("ix_imaging_orders_priority_status", "priority", "status"),
        Index("ix_imaging_orders_patient_ordered_date", "patient_id", "ordered_date"),
        Index("ix_imaging_orders_visit_id", "visit_id"),
        Index("ix_imaging_orders_scheduled_date", "scheduled_date"),
        # The tablet's "done today" (webapp.imaging.day_lists.tablet_done).
        Index("ix_imaging_orders_completed_date", "completed_date"),
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_final(self) -> bool:
        return self.status in ("reported", "cancelled")

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def priority_label(self) -> str:
        return PRIORITY_LABELS[self.priority]

    @property
    def contrast_label(self) -> str:
        return CONTRAST_LABELS.get(self.contrast, self.contrast)

    @property
    def open_stops(self) -> list[dict]:
        """The stop alerts no radiologist has cleared (they block booking and the scan)."""
        cleared = set(self.safety_cleared_codes or ())
        return [a for a in self.safety_alerts or () if a.get("severity") == "stop" and a.get("code") not in cleared]

    @property
    def awaiting_protocol(self) -> bool:
        return bool(self.protocol_required) and not self.protocol

    @property
    def description(self) -> str:
        """What a worklist shows: the procedure, else modality and body part, with the side."""
        text = self.procedure_name or f"{self.modality_ref.name} {self.body_part_ref.name}"
        return f"{text} ({self.laterality})" if self.laterality else text


class OrderStatusCount(db.Model):
    """How many orders have each (status, modality, priority): what the dashboard shows.

    Kept exact by database triggers on ``imaging_orders`` in the same transaction as every
    insert, delete and change of those three columns (webapp.imaging.status_counts); the app
    only reads it. Rows that reach zero stay, with ``orders`` 0.
    """

    __tablename__ = "order_status_counts"

    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    modality: Mapped[str] = mapped_column(String(10), primary_key=True)
    priority: Mapped[str] = mapped_column(String(8), primary_key=True)
    orders: Mapped[int] = mapped_column(Integer, default=0)


class OrderEvent(db.Model):
    """One row per change to an order, written in the same transaction as the change.

    The timeline, the audit trail and the live event id (its integer id) all come from here.
    Rows are only ever inserted: database triggers refuse UPDATE and DELETE, and each row's
    ``row_hash`` chains it to the row before it (see webapp.audit).
    """

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("imaging_orders.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(24))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    order_version: Mapped[int] = mapped_column(Integer)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    # Who did it when there is no user (a scanner over DICOM MPPS: its AE title).
    actor_label: Mapped[str] = mapped_column(String(128))
    actor_role: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    changes: Mapped[dict] = mapped_column(JSON, default=dict)
    note: Mapped[str | None] = mapped_column(Text)
    # The hash chain (webapp.audit.chain fills both before the row is inserted).
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))

    order = relationship("ImagingOrder", back_populates="events")
    actor = relationship("User")


class Station(db.Model):
    """A scanner in a room, known by its DICOM AE title; orders are scheduled on stations."""

    __tablename__ = "stations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # AE titles are stored upper case (at most 16 characters, the AE value representation).
    ae_title: Mapped[str] = mapped_column(String(16), unique=True)
    modality: Mapped[str] = mapped_column(ForeignKey("imaging_modalities.code"), index=True)
    room: Mapped[str] = mapped_column(String(64), default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    modality_ref = relationship("ImagingModality")

    @property
    def label(self) -> str:
        return f"{self.ae_title} ({self.room})" if self.room else self.ae_title


class StationDowntime(db.Model):
    """A time a scanner cannot be booked (maintenance, a breakdown): [start, end) on one station."""

    __tablename__ = "station_downtimes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_ae: Mapped[str] = mapped_column(ForeignKey("stations.ae_title"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Ended early or withdrawn by hand (webapp.imaging.booking.end_downtime): an ongoing downtime
    # then ends at that moment; one withdrawn before it began blocks nothing and is not shown.
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))

    station = relationship("Station")

    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="downtime_ends_after_start"),
        Index("ix_station_downtimes_station_starts_at", "station_ae", "starts_at"),
    )


class OrderFormSubmission(db.Model):
    """One row per submitted order-form token (web pages): a double click or a resent form finds
    the order the first submission created instead of placing a second one. The primary key
    makes concurrent submissions of one token wait for, then see, the first."""

    __tablename__ = "order_form_submissions"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("imaging_orders.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


count_on_create(ImagingOrder.__table__, OrderStatusCount.__table__)
