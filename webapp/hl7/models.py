"""What an EHR calls the orders and visits it sent (ORC-2 placer number, PV1-19 visit number)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.db_types import UTCDateTime, utcnow
from webapp.extensions import db


class Hl7PlacerOrder(db.Model):
    """An order placed by an EHR over HL7: its placer order number (ORC-2), unique."""

    __tablename__ = "hl7_placer_orders"

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("imaging_orders.id"), primary_key=True)
    placer_number: Mapped[str] = mapped_column(String(64), unique=True)
    sending_application: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Hl7VisitNumber(db.Model):
    """A visit an EHR opened: its visit number (PV1-19), unique."""

    __tablename__ = "hl7_visit_numbers"

    visit_number: Mapped[str] = mapped_column(String(64), primary_key=True)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visits.id"), unique=True)
