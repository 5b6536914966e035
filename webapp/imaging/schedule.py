"""The schedule of the scanners: a day's bookings per station in time order, the free gaps
between them, and the bookings a new one would overlap (read side; booking itself is the
"schedule" action of webapp.imaging.actions).

A booking has a start (``scheduled_date``) but no end: it is taken to last the usual length of an
exam of its modality (EXAM_MINUTES). Free gaps are shown within the working day (DAY_START to
DAY_END, the clinic's time zone), and for today only from now on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp.db_types import clinic_day_bounds, clinic_zone, utcnow
from webapp.extensions import db
from webapp.imaging.models import ImagingOrder, Station

EXAM_MINUTES = {"XRAY": 10, "CT": 15, "MRI": 30, "US": 20, "MG": 15, "FL": 30}
DEFAULT_EXAM_MINUTES = 15
DAY_START, DAY_END = time(7, 0), time(19, 0)
MIN_GAP = timedelta(minutes=10)  # shorter free time is not worth showing
BOOKED_STATUSES = ("scheduled", "in_progress", "completed", "reported")  # a cancelled order frees its time
UNBOOKED = ""  # the board's column of orders booked for the day without a scanner


def exam_length(order: ImagingOrder) -> timedelta:
    return timedelta(minutes=EXAM_MINUTES.get(order.modality, DEFAULT_EXAM_MINUTES))


@dataclass
class Booking:
    order: ImagingOrder
    start: datetime
    end: datetime
    overlaps: bool = False
    kind: str = "booking"


@dataclass
class Gap:
    start: datetime
    end: datetime
    kind: str = "gap"

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)


@dataclass
class StationDay:
    """One column of the board: a station (None: not booked on a scanner) and its day."""

    station: Station | None
    bookings: list[Booking] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)

    @property
    def items(self) -> list[Booking | Gap]:
        return sorted([*self.bookings, *self.gaps], key=lambda item: (item.start, item.kind == "booking"))


def _day_orders(day: date, station_ae: str | None = None) -> list[ImagingOrder]:
    start, end = clinic_day_bounds(day)
    statement = (
        select(ImagingOrder)
        .options(selectinload(ImagingOrder.patient))
        .where(ImagingOrder.scheduled_date >= start, ImagingOrder.scheduled_date < end,
               ImagingOrder.status.in_(BOOKED_STATUSES))
        .order_by(ImagingOrder.scheduled_date, ImagingOrder.id)
    )
    if station_ae is not None:
        statement = statement.where(ImagingOrder.scheduled_station_ae == station_ae)
    return list(db.session.execute(statement).unique().scalars())


def _bookings(orders: list[ImagingOrder]) -> list[Booking]:
    bookings = [Booking(o, o.scheduled_date, o.scheduled_date + exam_length(o)) for o in orders]
    for a in bookings:
        a.overlaps = any(b is not a and a.start < b.end and b.start < a.end for b in bookings)
    return bookings


def _gaps(day: date, bookings: list[Booking], now: datetime) -> list[Gap]:
    zone = clinic_zone()
    cursor = datetime.combine(day, DAY_START, zone)
    day_end = datetime.combine(day, DAY_END, zone)
    cursor = max(cursor, now.astimezone(zone).replace(second=0, microsecond=0))
    gaps = []
    for booking in bookings:
        if booking.start - cursor >= MIN_GAP and booking.start <= day_end:
            gaps.append(Gap(cursor, booking.start))
        cursor = max(cursor, booking.end)
    if day_end - cursor >= MIN_GAP:
        gaps.append(Gap(cursor, day_end))
    return gaps


def _station_day(station: Station | None, orders: list[ImagingOrder], day: date, now: datetime) -> StationDay:
    bookings = _bookings(orders)
    gaps = _gaps(day, bookings, now) if station is not None else []
    return StationDay(station, bookings, gaps)


def board(day: date, now: datetime | None = None) -> list[StationDay]:
    """A column per active station (by modality, then AE title), then the day's bookings without
    a scanner when there are any."""
    now = now or utcnow()
    stations = list(db.session.scalars(
        select(Station).where(Station.is_active.is_(True)).order_by(Station.modality, Station.ae_title)))
    by_station: dict[str, list[ImagingOrder]] = {}
    for order in _day_orders(day):
        by_station.setdefault(order.scheduled_station_ae or UNBOOKED, []).append(order)
    columns = [_station_day(s, by_station.get(s.ae_title, []), day, now) for s in stations]
    if by_station.get(UNBOOKED):
        columns.append(_station_day(None, by_station[UNBOOKED], day, now))
    return columns


def station_day(station: Station, day: date, now: datetime | None = None) -> StationDay:
    return _station_day(station, _day_orders(day, station.ae_title), day, now or utcnow())


def overlapping(station_ae: str | None, start: datetime, order: ImagingOrder,
                exclude: uuid.UUID | None = None) -> list[ImagingOrder]:
    """The bookings on the station that the order, booked at ``start``, would overlap."""
    if not station_ae:
        return []
    end = start + exam_length(order)
    local_day = start.astimezone(clinic_zone()).date()
    found = []
    for day in {local_day, (start - timedelta(hours=2)).astimezone(clinic_zone()).date()}:
        for other in _day_orders(day, station_ae):
            if other.id not in (order.id, exclude) and other.scheduled_date < end \
                    and start < other.scheduled_date + exam_length(other) and other not in found:
                found.append(other)
    return sorted(found, key=lambda o: o.scheduled_date)
