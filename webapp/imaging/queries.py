"""Read side of the imaging service layer: lookups, the filtered list, dashboard counts."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import and_, false, func, or_, select
from sqlalchemy.orm import lazyload, selectinload

from webapp.audit.locking import lock_order_writes
from webapp.db_types import clinic_day_bounds, clinic_today, utcnow
from webapp.errors import NotFound, ValidationFailed
from webapp.extensions import db
from webapp.imaging.models import (
    OPEN_STATUSES,
    PRIORITIES,
    STATUSES,
    ImagingModality,
    ImagingOrder,
    OrderCounter,
    OrderEvent,
    OrderStatusCount,
    Station,
)
from webapp.imaging.numbering import format_number
from webapp.patients.models import Patient
from webapp.patients.search import matching_patient_ids

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


def _orders(references: bool):
    """``select(ImagingOrder)``; with ``references=False`` the modality and body part rows (whose
    names pages show) are not joined in: the JSON API answers with their codes only."""
    statement = select(ImagingOrder)
    if not references:
        statement = statement.options(lazyload(ImagingOrder.modality_ref), lazyload(ImagingOrder.body_part_ref))
    return statement


def get_order(order_id: Any, *, for_update: bool = False, references: bool = True) -> ImagingOrder:
    key = _uuid_or_none(order_id)
    order = None
    if key is not None:
        statement = _orders(references).where(ImagingOrder.id == key)
        if for_update:
            # The audit chain's lock before the order's row: one lock order for all writers.
            lock_order_writes(db.session)
            statement = statement.with_for_update(of=ImagingOrder)
        order = db.session.execute(statement).unique().scalar_one_or_none()
    if order is None:
        raise NotFound(f"No imaging order with id {order_id}.")
    return order


def get_order_by_accession(accession_number: str, *, references: bool = True) -> ImagingOrder:
    order = db.session.execute(
        _orders(references).where(ImagingOrder.accession_number == (accession_number or "").strip().upper())
    ).unique().scalar_one_or_none()
    if order is None:
        raise NotFound(f"No imaging order with accession number {accession_number}.")
    return order


def order_events(order: ImagingOrder) -> list[OrderEvent]:
    """The order's timeline, oldest first."""
    return list(db.session.scalars(select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)))


@dataclass
class OrderFilter:
    """The list filters shared by the list page, the API and the patient and visit lists."""

    status: str | None = None
    modality: str | None = None
    priority: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    q: str | None = None
    patient_id: uuid.UUID | None = None
    visit_id: uuid.UUID | None = None

    @classmethod
    def from_args(cls, args: Any) -> OrderFilter:
        """Build from a query string (``request.args``); bad values raise ValidationFailed."""
        errors: dict[str, str] = {}

        def choice(name: str, allowed) -> str | None:
            value = (args.get(name) or "").strip()
            if not value:
                return None
            if value not in allowed:
                errors[name] = f"Must be one of: {', '.join(allowed)}."
                return None
            return value

        def day(name: str) -> date | None:
            value = (args.get(name) or "").strip()
            if not value:
                return None
            try:
                parsed = date.fromisoformat(value)
            except ValueError:
                errors[name] = "A date as YYYY-MM-DD."
                return None
            if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
                errors[name] = f"A date between the years {FIRST_YEAR} and {LAST_YEAR}."
                return None
            return parsed

        status = choice("status", STATUSES)
        priority = choice("priority", PRIORITIES)
        modality = (args.get("modality") or "").strip().upper() or None
        if modality and len(modality) > 10:
            errors["modality"] = "Unknown modality."
        q = (args.get("q") or "").strip() or None
        if q and len(q) > 100:
            errors["q"] = "At most 100 characters."
        date_from, date_to = day("date_from"), day("date_to")
        if date_from and date_to and date_from > date_to:
            errors["date_to"] = "Must not be before date_from."
        if errors:
            raise ValidationFailed(errors)
        return cls(status=status, modality=modality, priority=priority, date_from=date_from, date_to=date_to, q=q)

    def as_args(self) -> dict[str, str]:
        """The filter as query-string arguments (for links that keep it)."""
        pairs = {
            "status": self.status, "modality": self.modality, "priority": self.priority,
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None, "q": self.q,
        }
        return {k: v for k, v in pairs.items() if v}


def encode_cursor(order: ImagingOrder) -> str:
    raw = json.dumps([order.ordered_date.isoformat(), str(order.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


FIRST_YEAR, LAST_YEAR = 1900, 2200  # the years a filter or cursor can mean (and the database store)


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (moment, id) a cursor of ``encode_cursor`` holds; anything else raises ValidationFailed.

    A cursor is the client's to send back, so it is checked like any input: an aware moment in
    the years the database stores (``0001-01-01T00:00:00+14:00`` is year 0 in UTC), an id that
    is a UUID string.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        moment, key = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(moment, str) or not isinstance(key, str):
            raise ValueError
        parsed = datetime.fromisoformat(moment)
        if parsed.tzinfo is None or not FIRST_YEAR <= parsed.astimezone(UTC).year <= LAST_YEAR:
            raise ValueError
        return parsed, uuid.UUID(key)
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed({"cursor": "Not a cursor this server gave out."}) from None


def _sequence_numbers(text: str) -> list[str]:
    """ACC-YYYY-NNNNN for each year with orders, when the text is just a number ("00040")."""
    if not text.isdigit() or len(text) > 9:
        return []
    years = db.session.scalars(select(OrderCounter.year)).all()
    return [format_number("ACC", year, int(text)) for year in years]


def order_search_condition(q: str):
    """Orders found by a search: their accession or order number, or their patient (one search)."""
    text = q.strip()
    upper = text.upper()
    return or_(
        ImagingOrder.accession_number == upper,
        ImagingOrder.order_number == upper,
        ImagingOrder.accession_number.like(f"{upper}%") if upper.startswith("ACC-") else false(),
        ImagingOrder.order_number.like(f"{upper}%") if upper.startswith("ORD-") else false(),
        ImagingOrder.accession_number.in_(_sequence_numbers(text)),
        ImagingOrder.patient_id.in_(matching_patient_ids(text)),
    )


def _filtered(statement, filters: OrderFilter):
    conditions = []
    if filters.status:
        conditions.append(ImagingOrder.status == filters.status)
    if filters.modality:
        conditions.append(ImagingOrder.modality == filters.modality)
    if filters.priority:
        conditions.append(ImagingOrder.priority == filters.priority)
    if filters.patient_id:
        conditions.append(ImagingOrder.patient_id == filters.patient_id)
    if filters.visit_id:
        conditions.append(ImagingOrder.visit_id == filters.visit_id)
    if filters.date_from:
        conditions.append(ImagingOrder.ordered_date >= clinic_day_bounds(filters.date_from)[0])
    if filters.date_to:
        conditions.append(ImagingOrder.ordered_date < clinic_day_bounds(filters.date_to)[1])
    if filters.q:
        conditions.append(order_search_condition(filters.q))
    return statement.where(and_(*conditions)) if conditions else statement


def list_orders(
    filters: OrderFilter | None = None, *, limit: int | None = None, cursor: str | None = None,
    references: bool = True,
) -> tuple[list[ImagingOrder], str | None]:
    """A page of orders, newest first, and the cursor of the next page (None on the last)."""
    filters = filters or OrderFilter()
    if limit is None:
        limit = DEFAULT_LIMIT
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed({"limit": f"A whole number from 1 to {MAX_LIMIT}."})
    statement = _filtered(_orders(references), filters)
    if cursor:
        moment, key = decode_cursor(cursor)
        statement = statement.where(
            # The plain bound lets the index seek to the cursor; the OR alone is only a filter
            # (a page 90% into a long list read every row before it: bench/, scenario 1).
            ImagingOrder.ordered_date <= moment,
            or_(
                ImagingOrder.ordered_date < moment,
                and_(ImagingOrder.ordered_date == moment, ImagingOrder.id < key),
            ),
        )
    statement = statement.order_by(ImagingOrder.ordered_date.desc(), ImagingOrder.id.desc()).limit(limit + 1)
    rows = list(db.session.execute(statement).unique().scalars())
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def _orders_of(model, column, key_value: Any, what: str) -> list[ImagingOrder]:
    """Every order whose ``column`` is the id of an existing ``model`` row, newest first."""
    key = _uuid_or_none(key_value)
    if key is None or db.session.get(model, key) is None:
        raise NotFound(f"No {what} with id {key_value}.")
    statement = (
        select(ImagingOrder).where(column == key)
        .order_by(ImagingOrder.ordered_date.desc(), ImagingOrder.id.desc())
    )
    return list(db.session.execute(statement).unique().scalars())


def patient_orders(patient_id: Any) -> list[ImagingOrder]:
    """A patient's whole imaging history, newest first."""
    return _orders_of(Patient, ImagingOrder.patient_id, patient_id, "patient")


def visit_orders(visit_id: Any) -> list[ImagingOrder]:
    """The orders placed from a visit, newest first."""
    from webapp.visits.models import Visit

    return _orders_of(Visit, ImagingOrder.visit_id, visit_id, "visit")


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


def active_stations(modality: str | None = None) -> list[Station]:
    """Stations in service (for the scheduler's choice), optionally of one modality."""
    statement = select(Station).where(Station.is_active.is_(True))
    if modality:
        statement = statement.where(Station.modality == modality)
    return list(db.session.scalars(statement.order_by(Station.modality, Station.ae_title)))


def all_stations() -> list[Station]:
    return list(db.session.scalars(select(Station).order_by(Station.modality, Station.ae_title)))


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
    limit: int = 1000,
) -> list[ImagingOrder]:
    """Orders for a scanner's worklist (DICOM Modality Worklist), earliest start first.

    The start is the scheduled date, or the order date for an order not yet scheduled.
    ``*_like`` arguments are SQL LIKE patterns escaped with a backslash; names match without
    regard to case (``full_name_like`` against "last^first").
    """
    start = func.coalesce(ImagingOrder.scheduled_date, ImagingOrder.ordered_date)
    statement = (
        select(ImagingOrder)
        .join(Patient, Patient.id == ImagingOrder.patient_id)
        .where(ImagingOrder.status.in_(statuses))
        .options(selectinload(ImagingOrder.ordering_doctor), selectinload(ImagingOrder.scheduled_station))
    )
    if station_ae_like is not None:
        statement = statement.where(ImagingOrder.scheduled_station_ae.like(station_ae_like, escape="\\"))
    if modality_codes is not None:
        statement = statement.where(ImagingOrder.modality.in_(modality_codes))
    if start_from is not None:
        statement = statement.where(start >= start_from)
    if start_before is not None:
        statement = statement.where(start < start_before)
    if accession_like is not None:
        statement = statement.where(ImagingOrder.accession_number.like(accession_like, escape="\\"))
    if mrn_like is not None:
        statement = statement.where(Patient.mrn.like(mrn_like, escape="\\"))
    if family_name_like is not None:
        statement = statement.where(func.lower(Patient.last_name).like(family_name_like.lower(), escape="\\"))
    if given_name_like is not None:
        statement = statement.where(func.lower(Patient.first_name).like(given_name_like.lower(), escape="\\"))
    if full_name_like is not None:
        full_name = func.lower(Patient.last_name + "^" + Patient.first_name)
        statement = statement.where(full_name.like(full_name_like.lower(), escape="\\"))
    statement = statement.order_by(start, ImagingOrder.accession_number).limit(limit)
    return list(db.session.execute(statement).unique().scalars())
