"""The schedule of the scanners: a day's bookings per station in time order, the free gaps
between them, and the bookings a new one would overlap (read side; booking itself is the
"schedule" action of webapp.imaging.actions).

A booking has a start (``scheduled_date``) and lasts its procedure's duration
(webapp.imaging.durations). A station's downtimes (webapp.imaging.booking) show in its column and
are never free. Free gaps are shown within the working day (DAY_START to DAY_END, the clinic's
time zone), and for today only from now on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp.db_types import clinic_day_bounds, clinic_zone, utcnow
from webapp.extensions import db
from webapp.imaging.booking import BOOKED_STATUSES, bookings_between, upcoming_downtimes
from webapp.imaging.durations import Durations, exam_length
from webapp.imaging.models import ImagingOrder, Station, StationDowntime

DAY_START, DAY_END = time(7, 0), time(19, 0)
MIN_GAP = timedelta(minutes=10)  # shorter free time is not worth showing
UNBOOKED = ""  # the board's column of orders booked for the day without a scanner


@dataclass
class Booking:
    order: ImagingOrder
    start: datetime
    end: datetime
    overlaps: bool = False
    kind: str = "booking"

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)


@dataclass
class Down:
    downtime: StationDowntime
    start: datetime
    end: datetime
    kind: str = "downtime"


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
    downtimes: list[Down] = field(default_factory=list)

    @property
    def items(self) -> list[Booking | Gap | Down]:
        rank = {"downtime": 0, "gap": 1, "booking": 2}
        return sorted([*self.bookings, *self.gaps, *self.downtimes], key=lambda item: (item.start, rank[item.kind]))


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


def _bookings(orders: list[ImagingOrder], durations: Durations) -> list[Booking]:
    bookings = [Booking(o, o.scheduled_date, o.scheduled_date + durations.length(o)) for o in orders]
    for a in bookings:
        a.overlaps = any(b is not a and a.start < b.end and b.start < a.end for b in bookings)
    return bookings


def _gaps(day: date, bookings: list[Booking | Down], now: datetime) -> list[Gap]:
    zone = clinic_zone()
    cursor = datetime.combine(day, DAY_START, zone)
    day_end = datetime.combine(day, DAY_END, zone)
    cursor = max(cursor, now.astimezone(zone).replace(second=0, microsecond=0))
    gaps = []
    for booking in sorted(bookings, key=lambda b: b.start):
        if booking.start - cursor >= MIN_GAP and booking.start <= day_end:
            gaps.append(Gap(cursor, booking.start))
        cursor = max(cursor, booking.end)
    if day_end - cursor >= MIN_GAP:
        gaps.append(Gap(cursor, day_end))
    return gaps


def _station_day(station: Station | None, orders: list[ImagingOrder], day: date, now: datetime,
                 durations: Durations | None = None, downs: list[StationDowntime] | None = None) -> StationDay:
    bookings = _bookings(orders, durations or Durations())
    if station is None:
        return StationDay(None, bookings)
    if downs is None:
        start, end = clinic_day_bounds(day)
        downs = upcoming_downtimes(station.ae_title, start, end)
    blocks = [Down(d, d.starts_at, d.ends_at) for d in downs]
    return StationDay(station, bookings, _gaps(day, [*bookings, *blocks], now), blocks)


def board(day: date, now: datetime | None = None) -> list[StationDay]:
    """A column per active station (by modality, then AE title), then the day's bookings without
    a scanner when there are any."""
    now = now or utcnow()
    stations = list(db.session.scalars(
        select(Station).where(Station.is_active.is_(True)).order_by(Station.modality, Station.ae_title)))
    by_station: dict[str, list[ImagingOrder]] = {}
    for order in _day_orders(day):
        by_station.setdefault(order.scheduled_station_ae or UNBOOKED, []).append(order)
    start, end = clinic_day_bounds(day)
    downs: dict[str, list[StationDowntime]] = {}
    for down in upcoming_downtimes(None, start, end):
        downs.setdefault(down.station_ae, []).append(down)
    durations = Durations()
    columns = [_station_day(s, by_station.get(s.ae_title, []), day, now, durations, downs.get(s.ae_title, []))
               for s in stations]
    if by_station.get(UNBOOKED):
        columns.append(_station_day(None, by_station[UNBOOKED], day, now, durations))
    return columns


def station_day(station: Station, day: date, now: datetime | None = None) -> StationDay:
    return _station_day(station, _day_orders(day, station.ae_title), day, now or utcnow())


def overlapping(station_ae: str | None, start: datetime, order: ImagingOrder,
                exclude: uuid.UUID | None = None) -> list[ImagingOrder]:
    """The bookings on the station that the order, booked at ``start``, would overlap."""
    if not station_ae:
        return []
    found = bookings_between(station_ae, start, start + exam_length(order), exclude=order.id)
    return [o for o in found if o.id != exclude]
