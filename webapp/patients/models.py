from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, Index, String, Uuid, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.db_types import UTCDateTime, clinic_today, new_uuid, utcnow
from webapp.extensions import db

SEXES = ("male", "female", "other", "unknown")


class Patient(db.Model):
    __tablename__ = "patients"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    mrn: Mapped[str] = mapped_column(String(32), unique=True)
    first_name: Mapped[str] = mapped_column(String(64))
    last_name: Mapped[str] = mapped_column(String(64))
    date_of_birth: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    visits = relationship("Visit", back_populates="patient", order_by="Visit.visit_date.desc()")

    __table_args__ = (
        Index("ix_patients_last_name_lower", func.lower(last_name)),
    )

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def list_name(self) -> str:
        return f"{self.last_name}, {self.first_name}"

    @property
    def age(self) -> int:
        """Whole years today (in the clinic's time zone)."""
        today = clinic_today()
        born = self.date_of_birth
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))

    @property
    def mrn_label(self) -> str:
        """The MRN as shown after its label: "MRN100001" stays, a bare "100001" reads "MRN 100001"."""
        return self.mrn if self.mrn.upper().startswith("MRN") else f"MRN {self.mrn}"
