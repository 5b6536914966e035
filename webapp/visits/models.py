from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.db_types import UTCDateTime, new_uuid, utcnow
from webapp.extensions import db


class Visit(db.Model):
    __tablename__ = "visits"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    visit_date: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(String(255))
    clinical_notes: Mapped[str | None] = mapped_column(Text)
    attending_doctor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    patient = relationship("Patient", back_populates="visits")
    attending_doctor = relationship("User")
    diagnoses = relationship(
        "Diagnosis", back_populates="visit", order_by="Diagnosis.position", cascade="all, delete-orphan"
    )

    @property
    def primary_diagnosis(self):
        return self.diagnoses[0] if self.diagnoses else None


class Diagnosis(db.Model):
    __tablename__ = "diagnoses"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visits.id"), index=True)
    code: Mapped[str] = mapped_column(String(16))  # ICD-10
    description: Mapped[str] = mapped_column(String(255))
    position: Mapped[int] = mapped_column(Integer, default=0)

    visit = relationship("Visit", back_populates="diagnoses")

    @property
    def label(self) -> str:
        return f"{self.code} {self.description}"
