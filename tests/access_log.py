"""Shared by the access-log tests: the log as plain tuples, and patients to search for."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select

from webapp.audit.access import flush_batches
from webapp.audit.models import PatientAccessLog
from webapp.extensions import db


@dataclass(frozen=True)
class Read:
    user_id: uuid.UUID | None
    user_role: str
    what: str
    request_path: str | None
    search: str | None
    patients: frozenset[uuid.UUID]


def reads(app, after: int = 0) -> list[Read]:
    """The access rows with an id above ``after``, oldest first (the rows this process has queued
    written first, as ``audit access`` does)."""
    flush_batches()  # every app of this process (a test may serve from a second one)
    with app.app_context():
        rows = db.session.scalars(
            select(PatientAccessLog).where(PatientAccessLog.id > after).order_by(PatientAccessLog.id)
        ).all()
        return [Read(r.user_id, r.user_role, r.what, r.request_path, r.search, frozenset(r.patient_ids))
                for r in rows]


def last_id(app) -> int:
    flush_batches()  # every app of this process (a test may serve from a second one)
    with app.app_context():
        return db.session.scalar(select(PatientAccessLog.id).order_by(PatientAccessLog.id.desc()).limit(1)) or 0


@dataclass
class Clinic:
    """Two Lindqvists (Anna with two orders, Bertil with one) and Okafor (one order)."""

    anna: object
    bertil: object
    okafor: object
    visits: dict
    orders: dict


def clinic(make_patient, make_visit, make_order, status: str = "ordered", **order_fields) -> Clinic:
    anna = make_patient(first_name="Anna", last_name="Lindqvist")
    bertil = make_patient(first_name="Bertil", last_name="Lindqvist")
    okafor = make_patient(first_name="Chidi", last_name="Okafor")
    visits = {p.id: make_visit(patient=p) for p in (anna, bertil, okafor)}
    orders = {p.id: [] for p in (anna, bertil, okafor)}
    for patient in (anna, anna, bertil, okafor):
        orders[patient.id].append(make_order(status, visit=visits[patient.id], **order_fields))
    return Clinic(anna, bertil, okafor, visits, orders)
