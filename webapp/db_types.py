"""Column types and time helpers shared by the models."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import DateTime, TypeDecorator


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_uuid() -> uuid.UUID:
    return uuid.uuid4()


def clinic_zone() -> ZoneInfo:
    """The clinic's time zone (APP_TIMEZONE)."""
    return ZoneInfo(current_app.config.get("APP_TIMEZONE", "UTC"))


def clinic_today(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(clinic_zone()).date()


def clinic_day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants at which the clinic's calendar day starts and the next one starts."""
    zone = clinic_zone()
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    end = datetime.fromordinal(day.toordinal() + 1).replace(tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)
