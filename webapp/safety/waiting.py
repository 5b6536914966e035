"""Who is waiting: patients who have arrived and whose scan has not started (the tablet lists
them by name; the wall display shows only how many and the longest wait)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.imaging.models import ImagingOrder


@dataclass(frozen=True)
class WaitingRoom:
    count: int
    longest_minutes: int | None


def waiting_room(now: datetime) -> WaitingRoom:
    """How many arrived patients wait for a scan, and the longest wait (no names: the wall shows it)."""
    count, earliest = db.session.execute(
        select(func.count(), func.min(ImagingOrder.arrived_at)).where(
            ImagingOrder.status == "scheduled", ImagingOrder.arrived_at.is_not(None))
    ).one()
    if not count or earliest is None:
        return WaitingRoom(0, None)
    if earliest.tzinfo is None:  # SQLite's aggregate returns the stored text without the UTC type
        from datetime import UTC

        earliest = earliest.replace(tzinfo=UTC)
    return WaitingRoom(count, max(0, int((now - earliest).total_seconds() // 60)))
