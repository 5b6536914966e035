"""A patient's safety record (one row per patient) and the append-only trail of its changes."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.audit.guards import guard_on_create
from webapp.db_types import UTCDateTime, utcnow
from webapp.extensions import db

# The coded substances an allergy names (contrast classes first: the rules read those two).
SUBSTANCES = {
    "iodinated_contrast": "Iodinated contrast",
    "gadolinium_contrast": "Gadolinium contrast",
    "latex": "Latex",
    "penicillin": "Penicillin",
    "iodine_topical": "Iodine (topical antiseptic)",
    "shellfish": "Shellfish",
    "other": "Other",
}
SEVERITIES = {"mild": "Mild", "moderate": "Moderate", "severe": "Severe"}
PREGNANCY = {"no": "Not pregnant", "possible": "Possibly pregnant", "yes": "Pregnant", "unknown": "Unknown"}
MR_SAFETY = {"safe": "MR safe", "conditional": "MR conditional", "unsafe": "MR unsafe"}


class PatientSafety(db.Model):
    """What the screening rules read about a patient. ``allergies`` is a list of
    {substance, reaction, severity}; ``implants`` a list of {name, mr_safety}."""

    __tablename__ = "patient_safety"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    allergies: Mapped[list] = mapped_column(JSON, default=list)
    egfr_value: Mapped[float | None] = mapped_column(Float)  # mL/min/1.73 m²
    egfr_measured_on: Mapped[date | None] = mapped_column(Date)
    pregnancy: Mapped[str | None] = mapped_column(String(10))
    pregnancy_asked_on: Mapped[date | None] = mapped_column(Date)
    implants: Mapped[list] = mapped_column(JSON, default=list)
    on_metformin: Mapped[bool] = mapped_column(Boolean, default=False)
    weight_kg: Mapped[float | None] = mapped_column(Float)
    diabetes: Mapped[bool] = mapped_column(Boolean, default=False)
    renal_disease: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_label: Mapped[str | None] = mapped_column(String(128))

    __mapper_args__ = {"version_id_col": version}

    @property
    def contrast_allergies(self) -> list[dict]:
        return [a for a in self.allergies or [] if a.get("substance") in ("iodinated_contrast", "gadolinium_contrast")]


class SafetyRecordChange(db.Model):
    """One row per change of a safety record: who, when, what changed (from -> to). Append-only."""

    __tablename__ = "safety_record_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(String(128))
    actor_role: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    changes: Mapped[dict] = mapped_column(JSON, default=dict)

    actor = relationship("User")


guard_on_create(SafetyRecordChange.__table__)
