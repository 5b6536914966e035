"""The rules of a booking on a scanner (docs/scheduling.md), checked by the schedule step
(webapp.imaging.steps) whatever road the booking came by (order page, board, API):

* it may not fall into a downtime of the station (409, the downtime's reason; not overridable);
* it may not overlap another booking on the station, each booking taking its exam's duration
  (webapp.imaging.durations), unless ``allow_overlap`` (409 naming the other booking);
* a STAT order is booked within BOOKING_STAT_HOURS of being ordered, an urgent one within
  BOOKING_URGENT_DAYS; later needs a ``reason`` (422), which the order's timeline keeps.

And the rule of the scanner at work: one scan at a time per station (``scanning_on``).
Downtimes are recorded here too (``add_downtime``), with the bookings they cover.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select

from webapp.db_types import clinic_zone
from webapp.errors import NotFound, StationConflict, ValidationFailed
from webapp.extensions import db
from webapp.imaging.durations import Durations, exam_length
from webapp.imaging.models import ImagingOrder, Station, StationDowntime

BOOKED_STATUSES = ("scheduled", "in_progress", "completed", "reported")  # a cancelled order frees its time
MAX_DOWNTIME = timedelta(days=31)


def _hm(moment: datetime) -> str:
    return f"{moment.astimezone(clinic_zone()):%Y-%m-%d %H:%M}"


def _standing():
    """Not withdrawn before it began (one ended early keeps its past part: ends_at is then the
    moment it was ended; webapp.imaging.downtime.end)."""
    return or_(StationDowntime.withdrawn_at.is_(None), StationDowntime.withdrawn_at > StationDowntime.starts_at)


def downtimes(station_ae: str, start: datetime, end: datetime) -> list[StationDowntime]:
    """The station's downtimes that overlap [start, end)."""
    return list(db.session.scalars(
        select(StationDowntime).where(StationDowntime.station_ae == station_ae,
                                      StationDowntime.starts_at < end, StationDowntime.ends_at > start, _standing())
        .order_by(StationDowntime.starts_at)))


def bookings_between(station_ae: str, start: datetime, end: datetime, durations: Durations | None = None,
                     exclude: uuid.UUID | None = None) -> list[ImagingOrder]:
    """The orders booked on the station whose time [scheduled, scheduled + duration) meets [start, end)."""
    durations = durations or Durations()
    longest = timedelta(minutes=480)
    candidates = db.session.scalars(
        select(ImagingOrder).where(ImagingOrder.scheduled_station_ae == station_ae,
                                   ImagingOrder.status.in_(BOOKED_STATUSES),
                                   ImagingOrder.scheduled_date < end, ImagingOrder.scheduled_date > start - longest)
        .order_by(ImagingOrder.scheduled_date, ImagingOrder.id))
    return [o for o in candidates
            if o.id != exclude and o.scheduled_date + durations.length(o) > start]


def describe(order: ImagingOrder, durations: Durations | None = None) -> dict:
    length = (durations or Durations()).length(order)
    return {"id": str(order.id), "accession_number": order.accession_number,
            "start": order.scheduled_date.isoformat(), "end": (order.scheduled_date + length).isoformat(),
            "status": order.status}


def check_free(order: ImagingOrder, station_ae: str | None, start: datetime, *, allow_overlap: bool) -> dict:
    """Refuse a booking into a downtime or over another booking (StationConflict); the changes
    the booking's event records (the overlaps allowed)."""
    if not station_ae:
        return {}
    end = start + exam_length(order)
    for down in downtimes(station_ae, start, end):
        raise StationConflict(
            f"{station_ae} is down from {_hm(down.starts_at)} to {_hm(down.ends_at)}: {down.reason}. "
            "Choose another time or scanner.",
            [{"downtime_id": down.id, "start": down.starts_at.isoformat(), "end": down.ends_at.isoformat(),
              "reason": down.reason}])
    durations = Durations()
    others = bookings_between(station_ae, start, end, durations, exclude=order.id)
    if not others:
        return {}
    if not allow_overlap:
        named = ", ".join(f"{o.accession_number} ({_hm(o.scheduled_date)}–"
                          f"{o.scheduled_date.astimezone(clinic_zone()) + durations.length(o):%H:%M})" for o in others)
        raise StationConflict(f"On {station_ae} this booking overlaps {named}. Book anyway with allow_overlap.",
                              [describe(o, durations) for o in others], overridable=True)
    return {"overlaps": [o.accession_number for o in others]}


def target(priority: str) -> timedelta | None:
    """How soon after being ordered an order of this priority is to be booked (None: no target)."""
    if priority == "stat":
        return timedelta(hours=current_app.config.get("BOOKING_STAT_HOURS", 4))
    if priority == "urgent":
        return timedelta(days=current_app.config.get("BOOKING_URGENT_DAYS", 2))
    return None


def check_target(order: ImagingOrder, start: datetime, reason: str | None, errors: dict[str, str]) -> bool:
    """A STAT or urgent booking later than its target needs a reason; True when it is late."""
    limit = target(order.priority)
    if limit is None or start <= order.ordered_date + limit:
        return False
    if not reason:
        errors["reason"] = (f"A {order.priority_label} order is to be done by {_hm(order.ordered_date + limit)} "
                            f"(within {_text(limit)} of being ordered); give the reason for booking it later.")
    return True


def _text(limit: timedelta) -> str:
    hours = limit.total_seconds() / 3600
    return f"{hours:g} hours" if hours < 48 else f"{hours / 24:g} days"


def scanning_on(station_ae: str | None, exclude: uuid.UUID | None = None) -> list[ImagingOrder]:
    """The orders in progress on the station (one scan at a time per scanner)."""
    if not station_ae:
        return []
    return list(db.session.scalars(
        select(ImagingOrder).where(ImagingOrder.scheduled_station_ae == station_ae,
                                   ImagingOrder.status == "in_progress", ImagingOrder.id != exclude)
        .with_for_update()))


# ---------------------------------------------------------------------------- downtime


def add_downtime(actor, station_ae: str, start, end, reason) -> tuple[StationDowntime, list[ImagingOrder]]:
    """Record a downtime of the station; answers it with the bookings it covers (to rebook)."""
    if actor.role not in ("scheduler", "admin"):
        from webapp.errors import PermissionDenied

        raise PermissionDenied("Only schedulers and administrators record a scanner's downtime.")
    station = db.session.scalar(select(Station).where(Station.ae_title == (station_ae or "").strip().upper()))
    if station is None:
        raise NotFound(f"No station {station_ae!r}.")
    errors: dict[str, str] = {}
    for name, value in (("start", start), ("end", end)):
        if not isinstance(value, datetime):
            errors[name] = "A date and time is required."
        elif value.tzinfo is None:
            errors[name] = "The date and time needs a time zone."
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        errors["reason"] = "Say why the scanner is down."
    elif len(text) > 1000:
        errors["reason"] = f"At most 1000 characters (got {len(text)})."
    if not errors and end <= start:
        errors["end"] = "The end must be after the start."
    elif not errors and end - start > MAX_DOWNTIME:
        errors["end"] = "A downtime lasts at most 31 days; record a longer one in parts."
    if errors:
        raise ValidationFailed(errors)
    down = StationDowntime(station_ae=station.ae_title, starts_at=start, ends_at=end, reason=text,
                           created_by=actor.user_id)
    db.session.add(down)
    db.session.flush()
    covered = [o for o in bookings_between(station.ae_title, start, end) if o.status == "scheduled"]
    return down, covered


def upcoming_downtimes(station_ae: str | None, start: datetime, end: datetime) -> list[StationDowntime]:
    """Downtimes meeting [start, end), of one station or of all."""
    statement = select(StationDowntime).where(StationDowntime.starts_at < end, StationDowntime.ends_at > start,
                                              _standing())
    if station_ae:
        statement = statement.where(StationDowntime.station_ae == station_ae)
    return list(db.session.scalars(statement.order_by(StationDowntime.starts_at)))
