"""The order list: its filters (pages, API, patient and visit lists), the search, keyset paging."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import and_, false, or_, select
from sqlalchemy.orm import lazyload

from webapp.db_types import clinic_day_bounds
from webapp.errors import ValidationFailed
from webapp.extensions import db
from webapp.imaging.models import PRIORITIES, STATUSES, ImagingOrder, OrderCounter
from webapp.imaging.numbering import format_number
from webapp.paging import DEFAULT_LIMIT, FIRST_YEAR, LAST_YEAR, MAX_LIMIT, keyset_page
from webapp.patients.search import matching_patient_ids


def order_select(references: bool):
    """``select(ImagingOrder)``; with ``references=False`` the modality and body part rows (whose
    names pages show) are not joined in: the JSON API answers with their codes only."""
    statement = select(ImagingOrder)
    if not references:
        statement = statement.options(lazyload(ImagingOrder.modality_ref), lazyload(ImagingOrder.body_part_ref))
    return statement


@dataclass
class OrderFilter:
    """The list filters shared by the list page, the API and the patient and visit lists."""

    status: str | None = None
    modality: str | None = None
    priority: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    q: str | None = None
    scheduled_on: date | None = None  # the clinic day an order is booked for
    patient_id: uuid.UUID | None = None
    visit_id: uuid.UUID | None = None

    @classmethod
    def from_args(cls, args: Any, errors: dict[str, str] | None = None) -> OrderFilter:
        """Build from a query string (``request.args``); bad values raise ValidationFailed, or
        with ``errors`` given are said there and left out (the filter keeps the good ones)."""
        lenient = errors is not None
        errors = {} if errors is None else errors
        modality = _arg_text(args, "modality", 10, errors, "Unknown modality.")
        date_from, date_to = _arg_day(args, "date_from", errors), _arg_day(args, "date_to", errors)
        if date_from and date_to and date_from > date_to:
            errors["date_to"] = "Must not be before the start of the range."
            date_to = None
        found = cls(
            status=_arg_choice(args, "status", STATUSES, errors), priority=_arg_choice(args, "priority", PRIORITIES, errors),
            modality=modality.upper() if modality else None, date_from=date_from, date_to=date_to,
            q=_arg_text(args, "q", 100, errors, "At most 100 characters."),
            scheduled_on=_arg_day(args, "scheduled_on", errors),
        )
        if errors and not lenient:
            raise ValidationFailed(errors)
        return found

    def as_args(self) -> dict[str, str]:
        """The filter as query-string arguments (for links that keep it)."""
        pairs = {
            "status": self.status, "modality": self.modality, "priority": self.priority,
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None, "q": self.q,
            "scheduled_on": self.scheduled_on.isoformat() if self.scheduled_on else None,
        }
        return {k: v for k, v in pairs.items() if v}


def _arg_choice(args: Any, name: str, allowed, errors: dict[str, str]) -> str | None:
    value = (args.get(name) or "").strip()
    if value and value not in allowed:
        errors[name] = f"Must be one of: {', '.join(allowed)}."
        return None
    return value or None


def _arg_text(args: Any, name: str, limit: int, errors: dict[str, str], message: str) -> str | None:
    value = (args.get(name) or "").strip()
    if len(value) > limit:
        errors[name] = message
        return None
    return value or None


def _arg_day(args: Any, name: str, errors: dict[str, str]) -> date | None:
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
    if filters.scheduled_on:
        start, end = clinic_day_bounds(filters.scheduled_on)
        conditions.append(and_(ImagingOrder.scheduled_date >= start, ImagingOrder.scheduled_date < end))
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
    statement = _filtered(order_select(references), filters)
    return keyset_page(statement, ImagingOrder.ordered_date, ImagingOrder.id, cursor=cursor, limit=limit)
