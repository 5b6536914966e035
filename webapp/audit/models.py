"""Who looked at which patient's orders, and when (append-only, like the order events)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

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
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    what: Mapped[str] = mapped_column(String(200))
    # The request that showed it: "GET /api/v1/imaging/orders/patient/…", and from where.
    request_path: Mapped[str | None] = mapped_column(String(300))
    remote_addr: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_patient_access_log_patient_accessed", "patient_id", "accessed_at"),
        Index("ix_patient_access_log_user_accessed", "user_id", "accessed_at"),
    )


guard_on_create(OrderEvent.__table__)
guard_on_create(PatientAccessLog.__table__)
