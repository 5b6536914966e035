"""Read side of the imaging service layer: one order, its timeline, a patient's or visit's orders,
the stations.

The order list lives in ``webapp.imaging.order_list`` (filters, search, keyset paging) and the
boards' reads in ``webapp.imaging.boards`` (dashboard, technicians' and scanners' worklists); the
names pages call as ``queries.X`` are imported here.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from webapp.audit.locking import lock_order_writes
from webapp.errors import NotFound
from webapp.extensions import db
from webapp.imaging.boards import worklist_orders as worklist_orders
from webapp.imaging.models import ImagingOrder, OrderEvent, Station
from webapp.imaging.order_list import OrderFilter as OrderFilter
from webapp.imaging.order_list import list_orders as list_orders
from webapp.imaging.order_list import order_select
from webapp.patients.models import Patient


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


def get_order(order_id: Any, *, for_update: bool = False, references: bool = True) -> ImagingOrder:
    key = _uuid_or_none(order_id)
    order = None
    if key is not None:
        statement = order_select(references).where(ImagingOrder.id == key)
        if for_update:
            # The audit chain's lock before the order's row: one lock order for all writers.
            lock_order_writes(db.session)
            # A row read under its lock replaces what the session held: another transaction may
            # have changed it since (a stale version would answer 412 instead of the real conflict).
            statement = statement.with_for_update(of=ImagingOrder).execution_options(populate_existing=True)
        order = db.session.execute(statement).unique().scalar_one_or_none()
    if order is None:
        raise NotFound(f"No imaging order with id {order_id}.")
    return order


def get_order_by_accession(accession_number: str, *, references: bool = True) -> ImagingOrder:
    order = db.session.execute(
        order_select(references).where(ImagingOrder.accession_number == (accession_number or "").strip().upper())
    ).unique().scalar_one_or_none()
    if order is None:
        raise NotFound(f"No imaging order with accession number {accession_number}.")
    return order


# The users an order's page names (ordering doctor, scheduler, technician, radiologist, ...).
PEOPLE_COLUMNS = ("ordered_by", "scheduled_by", "performing_technician", "reporting_radiologist", "cancelled_by",
                  "safety_cleared_by", "protocoled_by")


def order_people(order: ImagingOrder) -> list:
    """The users the order names, in one query. Their relationships then find them in the session
    instead of one query each; hold the list while the page renders (the session keeps its
    objects only as long as something else does)."""
    from webapp.auth.models import User

    ids = {getattr(order, column) for column in PEOPLE_COLUMNS} - {None}
    return list(db.session.scalars(select(User).where(User.id.in_(sorted(ids))))) if ids else []


def order_events(order: ImagingOrder) -> list[OrderEvent]:
    """The order's timeline, oldest first."""
    return list(db.session.scalars(select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)))


def last_event(order: ImagingOrder) -> OrderEvent | None:
    """The order's newest event (who changed it last)."""
    return db.session.scalar(select(OrderEvent).where(OrderEvent.order_id == order.id)
                             .order_by(OrderEvent.id.desc()).limit(1))


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


def active_stations(modality: str | None = None) -> list[Station]:
    """Stations in service (for the scheduler's choice), optionally of one modality."""
    statement = select(Station).where(Station.is_active.is_(True))
    if modality:
        statement = statement.where(Station.modality == modality)
    return list(db.session.scalars(statement.order_by(Station.modality, Station.ae_title)))


def all_stations() -> list[Station]:
    return list(db.session.scalars(select(Station).order_by(Station.modality, Station.ae_title)))
