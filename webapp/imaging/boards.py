"""The reads behind the boards: the dashboard's counts and lists, the technicians' worklist (the
tablet) and the scanners' worklist (DICOM Modality Worklist)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import lazyload, selectinload

from webapp.db_types import clinic_day_bounds, clinic_today, utcnow
from webapp.extensions import db
from webapp.imaging.models import (
    OPEN_STATUSES,
    PRIORITIES,
    STATUSES,
    ImagingModality,
    ImagingOrder,
    OrderStatusCount,
)
from webapp.patients.models import Patient


@dataclass
class DashboardCounts:
    by_status: dict[str, int]
    by_modality: dict[str, int]  # open orders per modality
    open_stat: int
    open_urgent: int
    today_total: int
    today_by_status: dict[str, int]
    total: int


def dashboard_counts(now: datetime | None = None) -> DashboardCounts:
    """The dashboard's figures: three small queries, none of which grows with the history.

    Orders per status, open orders per modality and open STAT/urgent orders come from
    ``order_status_counts`` (one row per status, modality and priority, kept exact by database
    triggers: webapp.imaging.status_counts), read in one statement and added up here. Today's
    orders per status are counted from the orders themselves, a range of the order-date index.
    """
    now = now or utcnow()
    by_status = dict.fromkeys(STATUSES, 0)
    modality_codes = db.session.scalars(select(ImagingModality.code).order_by(ImagingModality.sort_order))
    by_modality = dict.fromkeys(modality_codes, 0)
    open_priority = dict.fromkeys(PRIORITIES, 0)
    for status, modality, priority, orders in db.session.execute(
        select(OrderStatusCount.status, OrderStatusCount.modality, OrderStatusCount.priority, OrderStatusCount.orders)
        .where(OrderStatusCount.orders != 0)
    ):
        by_status[status] = by_status.get(status, 0) + orders
        if status in OPEN_STATUSES:
            by_modality[modality] = by_modality.get(modality, 0) + orders
            open_priority[priority] = open_priority.get(priority, 0) + orders
    start, end = clinic_day_bounds(clinic_today(now))
    today_by_status = dict.fromkeys(STATUSES, 0)
    for status, count in db.session.execute(
        select(ImagingOrder.status, func.count())
        .where(ImagingOrder.ordered_date >= start, ImagingOrder.ordered_date < end)
        .group_by(ImagingOrder.status)
    ):
        today_by_status[status] = count
    return DashboardCounts(
        by_status=by_status,
        by_modality=by_modality,
        open_stat=open_priority["stat"],
        open_urgent=open_priority["urgent"],
        today_total=sum(today_by_status.values()),
        today_by_status=today_by_status,
        total=sum(by_status.values()),
    )


def open_priority_orders(limit: int = 20) -> list[ImagingOrder]:
    """Open STAT and urgent orders, STAT first, the longest waiting first."""
    statement = (
        select(ImagingOrder)
        .where(ImagingOrder.status.in_(OPEN_STATUSES), ImagingOrder.priority.in_(("stat", "urgent")))
        .order_by((ImagingOrder.priority == "stat").desc(), ImagingOrder.ordered_date.asc())
        .limit(limit)
    )
    return list(db.session.execute(statement).unique().scalars())


def todays_orders(now: datetime | None = None, limit: int = 100) -> list[ImagingOrder]:
    start, end = clinic_day_bounds(clinic_today(now))
    statement = (
        select(ImagingOrder)
        .where(ImagingOrder.ordered_date >= start, ImagingOrder.ordered_date < end)
        .order_by(ImagingOrder.ordered_date.desc(), ImagingOrder.id.desc())
        .limit(limit)
    )
    return list(db.session.execute(statement).unique().scalars())


def worklist_orders(day: date | None = None, modality: str | None = None) -> list[ImagingOrder]:
    """The technician's day: orders scheduled for the day and every order in progress."""
    start, end = clinic_day_bounds(day or clinic_today())
    statement = select(ImagingOrder).where(
        or_(
            and_(ImagingOrder.status == "scheduled", ImagingOrder.scheduled_date >= start,
                 ImagingOrder.scheduled_date < end),
            ImagingOrder.status == "in_progress",
        )
    )
    if modality:
        statement = statement.where(ImagingOrder.modality == modality)
    statement = statement.order_by(ImagingOrder.modality, ImagingOrder.scheduled_date, ImagingOrder.id)
    return list(db.session.execute(statement).unique().scalars())


def _like_or_equal(column, pattern: str):
    """``column LIKE pattern`` (escaped with a backslash), or ``column = value`` when the pattern has
    no wildcard: an index serves the equality (a scanner asking for one accession number), where
    SQLite's LIKE, which ignores case, reads every candidate row."""
    plain, escaped = [], False
    for char in pattern:
        if escaped:
            plain.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in "%_":
            return column.like(pattern, escape="\\")
        else:
            plain.append(char)
    return column == "".join(plain)


def scheduled_step_orders(
    *,
    statuses: tuple[str, ...],
    station_ae_like: str | None = None,
    modality_codes: list[str] | None = None,
    start_from: datetime | None = None,
    start_before: datetime | None = None,
    accession_like: str | None = None,
    mrn_like: str | None = None,
    family_name_like: str | None = None,
    given_name_like: str | None = None,
    full_name_like: str | None = None,
    arrived_only: bool = False,
    limit: int = 1000,
) -> list[ImagingOrder]:
    """Orders for a scanner's worklist (DICOM Modality Worklist), earliest start first.

    The start is the scheduled date, or the order date for an order not yet scheduled.
    ``*_like`` arguments are SQL LIKE patterns escaped with a backslash; names match without
    regard to case (``full_name_like`` against "last^first").

    Two steps: the matching ids in order, then those orders by id. Sorting the ids alone, not the
    whole joined rows, halved a 1,000-item answer over 10,000 bookings on PostgreSQL
    (bench/README.md, "The worklist at scale on its own").
    """
    start = func.coalesce(ImagingOrder.scheduled_date, ImagingOrder.ordered_date)
    statement = (
        select(ImagingOrder.id)
        .join(Patient, Patient.id == ImagingOrder.patient_id)
        .where(ImagingOrder.status.in_(statuses))
    )
    if arrived_only:  # DICOM_REQUIRE_ARRIVAL: only patients who are here
        statement = statement.where(ImagingOrder.arrived_at.is_not(None))
    if station_ae_like is not None:
        statement = statement.where(_like_or_equal(ImagingOrder.scheduled_station_ae, station_ae_like))
    if modality_codes is not None:
        statement = statement.where(ImagingOrder.modality.in_(modality_codes))
    if start_from is not None:
        statement = statement.where(start >= start_from)
    if start_before is not None:
        statement = statement.where(start < start_before)
    if accession_like is not None:
        statement = statement.where(_like_or_equal(ImagingOrder.accession_number, accession_like))
    if mrn_like is not None:
        statement = statement.where(Patient.mrn.like(mrn_like, escape="\\"))
    if family_name_like is not None:
        statement = statement.where(func.lower(Patient.last_name).like(family_name_like.lower(), escape="\\"))
    if given_name_like is not None:
        statement = statement.where(func.lower(Patient.first_name).like(given_name_like.lower(), escape="\\"))
    if full_name_like is not None:
        full_name = func.lower(Patient.last_name + "^" + Patient.first_name)
        statement = statement.where(full_name.like(full_name_like.lower(), escape="\\"))
    ids = list(db.session.scalars(statement.order_by(start, ImagingOrder.accession_number).limit(limit)))
    found: dict = {}
    for first in range(0, len(ids), 500):  # few bound parameters per statement, on any SQLite
        orders = (
            select(ImagingOrder)
            .where(ImagingOrder.id.in_(ids[first:first + 500]), ImagingOrder.status.in_(statuses))
            .options(selectinload(ImagingOrder.ordering_doctor), selectinload(ImagingOrder.scheduled_station),
                     # Read only for an order without a procedure name: one query per body part at most.
                     lazyload(ImagingOrder.body_part_ref))
        )
        found.update((order.id, order) for order in db.session.scalars(orders).unique())
    # An order whose status changed between the two steps is left out, as if it had not matched.
    return [found[order_id] for order_id in ids if order_id in found]
