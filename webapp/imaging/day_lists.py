"""Read side of a department's day: the technician's tablet, the scheduler's and radiologist's
queues, and the wall's lists of waiting and running scans.

Every list puts the most urgent first: STAT, then urgent, then routine (``PRIORITY_RANK``), and
within a priority the longest waiting first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import selectinload

from webapp.db_types import clinic_day_bounds, clinic_today, utcnow
from webapp.extensions import db
from webapp.imaging.models import ImagingOrder, Station

PRIORITY_RANK = case({"stat": 0, "urgent": 1}, value=ImagingOrder.priority, else_=2)
RANK = {"stat": 0, "urgent": 1, "routine": 2}

# The two queues of the dashboard: which status waits, and since when it has waited.
QUEUES = {
    "to_schedule": ("ordered", ImagingOrder.ordered_date),
    "to_report": ("completed", ImagingOrder.completed_date),
}


def minutes_between(start: datetime | None, end: datetime) -> int:
    """Whole minutes from ``start`` to ``end`` (0 when ``start`` is later or unknown)."""
    if start is None:
        return 0
    return max(0, int((end - start).total_seconds() // 60))


@dataclass
class TabletEntry:
    order: ImagingOrder
    overdue: bool  # booked before now and not started


def _tablet_statement(start: datetime, end: datetime, today: bool):
    booked_this_day = and_(ImagingOrder.status == "scheduled", ImagingOrder.scheduled_date >= start,
                           ImagingOrder.scheduled_date < end)
    shown = [booked_this_day]
    if today:
        # Today also shows every scan still running and every booking missed before today.
        shown += [ImagingOrder.status == "in_progress",
                  and_(ImagingOrder.status == "scheduled", ImagingOrder.scheduled_date < start)]
    return (
        select(ImagingOrder).where(or_(*shown))
        .options(selectinload(ImagingOrder.scheduled_station))
    )


def tablet_day(day: date | None = None, station: str | None = None, now: datetime | None = None) -> list[TabletEntry]:
    """The tablet's list for ``day`` (today by default), optionally one station's (AE title).

    Overdue bookings (booked before now, not started) come first, then the day in booked time
    order, STAT before urgent before routine at the same time.
    """
    now = now or utcnow()
    day = day or clinic_today(now)
    start, end = clinic_day_bounds(day)
    statement = _tablet_statement(start, end, day == clinic_today(now))
    if station:
        statement = statement.where(ImagingOrder.scheduled_station_ae == station)
    orders = db.session.execute(statement).unique().scalars()
    entries = [TabletEntry(o, o.status == "scheduled" and o.scheduled_date is not None and o.scheduled_date < now)
               for o in orders]
    entries.sort(key=lambda e: (not e.overdue, e.order.scheduled_date or e.order.performed_date or now,
                                RANK[e.order.priority], e.order.accession_number))
    return entries


def tablet_done(day: date, station: str | None = None, limit: int = 5) -> list[ImagingOrder]:
    """The day's last completed scans (newest first): the tablet's "done today" list."""
    start, end = clinic_day_bounds(day)
    statement = (select(ImagingOrder).where(ImagingOrder.status.in_(("completed", "reported")),
                                            ImagingOrder.completed_date >= start, ImagingOrder.completed_date < end)
                 .order_by(ImagingOrder.completed_date.desc(), ImagingOrder.id).limit(limit))
    if station:
        statement = statement.where(ImagingOrder.scheduled_station_ae == station)
    return list(db.session.execute(statement).unique().scalars())


def station_choices() -> list[Station]:
    """Stations a technician can pick on the tablet: those in service."""
    return list(db.session.scalars(select(Station).where(Station.is_active.is_(True))
                                   .order_by(Station.modality, Station.ae_title)))


def queue_orders(queue: str, limit: int = 200) -> tuple[list[ImagingOrder], int]:
    """A queue's orders, STAT first, then urgent, then routine, the longest waiting first; and
    how many there are in all (the page shows at most ``limit``)."""
    status, since = QUEUES[queue]
    orders = db.session.execute(
        select(ImagingOrder).where(ImagingOrder.status == status)
        .order_by(PRIORITY_RANK, since.asc(), ImagingOrder.id).limit(limit)
    ).unique().scalars().all()
    total = db.session.scalar(select(func.count()).select_from(ImagingOrder).where(ImagingOrder.status == status))
    return list(orders), total or 0


def queue_since(queue: str, order: ImagingOrder) -> datetime | None:
    """When the order joined the queue: ordered (to schedule), scan completed (to report)."""
    return order.ordered_date if queue == "to_schedule" else order.completed_date


@dataclass
class WallRow:
    order: ImagingOrder
    minutes: int  # waiting (or scanning) time
    late: bool


# How long a STAT or urgent order may wait before the wall marks it late (not yet booked).
LATE_AFTER_MINUTES = {"stat": 60, "urgent": 240}


def wall_waiting(now: datetime | None = None, limit: int = 60) -> tuple[list[WallRow], int]:
    """Open STAT and urgent orders not yet started, with their waiting time: since the booked
    time for a scheduled order (an order booked later is not waiting yet), since the order for
    one not scheduled. STAT first, then the longest waiting. Also how many there are in all."""
    now = now or utcnow()
    waiting_since = func.coalesce(ImagingOrder.scheduled_date, ImagingOrder.ordered_date)
    condition = and_(ImagingOrder.status.in_(("ordered", "scheduled")), ImagingOrder.priority.in_(("stat", "urgent")))
    orders = db.session.execute(
        select(ImagingOrder).where(condition).order_by(PRIORITY_RANK, waiting_since, ImagingOrder.id).limit(limit)
    ).unique().scalars()
    rows = []
    for order in orders:
        if order.status == "scheduled":
            rows.append(WallRow(order, minutes_between(order.scheduled_date, now), order.scheduled_date < now))
        else:
            minutes = minutes_between(order.ordered_date, now)
            rows.append(WallRow(order, minutes, minutes >= LATE_AFTER_MINUTES[order.priority]))
    total = db.session.scalar(select(func.count()).select_from(ImagingOrder).where(condition))
    return rows, total or 0


def wall_scanning(now: datetime | None = None, limit: int = 40) -> tuple[list[WallRow], int]:
    """Scans in progress (every priority), STAT first, then the longest running."""
    now = now or utcnow()
    condition = ImagingOrder.status == "in_progress"
    orders = db.session.execute(
        select(ImagingOrder).where(condition)
        .order_by(PRIORITY_RANK, ImagingOrder.performed_date, ImagingOrder.id).limit(limit)
    ).unique().scalars()
    rows = [WallRow(order, minutes_between(order.performed_date, now), False) for order in orders]
    total = db.session.scalar(select(func.count()).select_from(ImagingOrder).where(condition))
    return rows, total or 0
