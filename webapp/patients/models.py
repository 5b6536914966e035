from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Uuid, event, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.db_types import UTCDateTime, clinic_today, new_uuid, utcnow
from webapp.extensions import db
from webapp.patients.identity import fold, mrn_key, nfc

SEXES = ("male", "female", "other", "unknown")
SEARCH_KEY_LENGTH = 400


def search_key(last_name: object, first_name: object, mrn: object) -> str:
    """What the one patient search matches words against: family name, given name and MRN folded
    (webapp.patients.identity.fold: no accents, no case, every Latin letter plain)."""
    return fold(f"{last_name or ''} {first_name or ''} {mrn or ''}")[:SEARCH_KEY_LENGTH]


class Patient(db.Model):
    __tablename__ = "patients"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    mrn: Mapped[str] = mapped_column(String(32), unique=True)
    # The MRN as compared (any case): unique, so "CASEmrn1" and "casemrn1" are one patient.
    mrn_key: Mapped[str] = mapped_column(String(64), unique=True)
    # PID-3.4, the assigning authority of the MRN as the EHR sent it; None: ours (HL7_SENDING_FACILITY).
    mrn_issuer: Mapped[str | None] = mapped_column(String(64))
    first_name: Mapped[str] = mapped_column(String(64))
    last_name: Mapped[str] = mapped_column(String(64))
    date_of_birth: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # fold(last first mrn), kept by the mapper events below; the one search matches against it.
    search_key: Mapped[str] = mapped_column(String(SEARCH_KEY_LENGTH), index=True)
    # Set when an ADT^A40 merged this record into another: the MRN then resolves to that survivor.
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("patients.id"))

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


@event.listens_for(Patient, "before_insert")
@event.listens_for(Patient, "before_update")
def _keep_keys(_mapper, _connection, patient: Patient) -> None:
    """Every write of a patient (API, pages, HL7, ADT, seed) stores names NFC and the keys current."""
    patient.first_name = nfc(patient.first_name)
    patient.last_name = nfc(patient.last_name)
    patient.mrn = str(patient.mrn or "").strip()
    patient.mrn_key = mrn_key(patient.mrn)
    patient.search_key = search_key(patient.last_name, patient.first_name, patient.mrn)
