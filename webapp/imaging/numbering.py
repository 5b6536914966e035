"""Accession and order numbers, and Study Instance UIDs.

Numbers come from one counter row per year, incremented by an atomic upsert in the order's own
transaction. PostgreSQL row-locks the counter until that transaction ends; SQLite writers
start with BEGIN IMMEDIATE (see extensions.configure_sqlite), so the counter is never read by
two writers at once. A rolled-back order releases its number with it: no gaps, no duplicates.
"""

from __future__ import annotations

import functools
import re
import uuid
from datetime import datetime

from sqlalchemy import bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from webapp.db_types import clinic_zone
from webapp.imaging.models import OrderCounter

ACCESSION_RE = re.compile(r"^ACC-(\d{4})-(\d{5,})$")
ORDER_NUMBER_RE = re.compile(r"^ORD-(\d{4})-(\d{5,})$")


def format_number(prefix: str, year: int, value: int) -> str:
    """ACC-2026-00001; past 99999 the number simply grows (ACC-2026-100000)."""
    return f"{prefix}-{year:04d}-{value:05d}"


def order_year(moment: datetime) -> int:
    """The year of the clinic's calendar (APP_TIMEZONE) in which the order was placed."""
    return moment.astimezone(clinic_zone()).year


@functools.cache
def _upsert(dialect: str):
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    return (
        insert(OrderCounter)
        .values(year=bindparam("year"), last_value=1)
        .on_conflict_do_update(
            index_elements=[OrderCounter.year],
            set_={"last_value": OrderCounter.last_value + 1},
        )
        .returning(OrderCounter.last_value)
    )


def next_sequence(session: Session, year: int) -> int:
    """Take the next number of ``year`` inside the caller's transaction."""
    return session.execute(_upsert(session.get_bind().dialect.name), {"year": year}).scalar_one()


def assign_numbers(session: Session, moment: datetime) -> tuple[str, str]:
    """The accession number and order number for an order placed at ``moment``."""
    year = order_year(moment)
    value = next_sequence(session, year)
    return format_number("ACC", year, value), format_number("ORD", year, value)


def new_study_instance_uid() -> str:
    """A Study Instance UID in the UUID-derived form of DICOM PS3.5 B.2 (``2.25.<uuid as int>``)."""
    return f"2.25.{uuid.uuid4().int}"
