"""What the DICOM service keeps of its own: the MPPS instances scanners create.

A scanner's N-SET names only the MPPS SOP Instance UID it chose in its N-CREATE, so the
service remembers which order each instance belongs to. The order itself changes only
through ``webapp.imaging.services``.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.db_types import UTCDateTime, utcnow
from webapp.extensions import db

MPPS_STATUSES = ("IN PROGRESS", "COMPLETED", "DISCONTINUED")


class PerformedProcedureStep(db.Model):
    __tablename__ = "performed_procedure_steps"

    sop_instance_uid: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("imaging_orders.id"), index=True)
    station_ae: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="IN PROGRESS")
    # Images referenced in the last Performed Series Sequence received (N-CREATE or N-SET).
    number_of_images: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    order = relationship("ImagingOrder")

    __table_args__ = (
        CheckConstraint("status IN ('IN PROGRESS', 'COMPLETED', 'DISCONTINUED')", name="status_valid"),
    )

    @property
    def is_final(self) -> bool:
        return self.status != "IN PROGRESS"
