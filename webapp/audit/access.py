"""Logging reads of a patient's orders: who looked at what, when, from where."""

from __future__ import annotations

import uuid
from typing import Any

from flask import has_request_context, request
from sqlalchemy import insert

from webapp.audit.models import PatientAccessLog
from webapp.db_types import utcnow
from webapp.extensions import _wants_write_lock, commit_keeping_state, db, writing

_INSERT = insert(PatientAccessLog)  # built once; SQLAlchemy caches its compiled form


def log_patient_access(user: Any, patient_id: uuid.UUID | str, what: str) -> None:
    """Record that ``user`` was shown ``what`` (e.g. "imaging history") of patient ``patient_id``.

    Pages and the API call this when they show a patient's orders. In a read request (GET) the
    row is committed at once, so it is kept even though the request itself commits nothing: on
    PostgreSQL in the request's own transaction (no second connection; what the request already
    loaded stays loaded), on SQLite in a short writing transaction of its own (the read
    transaction cannot become a writer without risking "database is locked"). In a writing
    request or a ``writing()`` block it joins the caller's transaction.
    If the row cannot be written, the error propagates: nothing is shown unlogged.
    """
    values = {
        "accessed_at": utcnow(),
        "user_id": getattr(user, "id", None),
        "username": (getattr(user, "username", None) or str(getattr(user, "label", "unknown")))[:64],
        "user_role": str(getattr(user, "role", "") or "")[:16],
        "patient_id": patient_id if isinstance(patient_id, uuid.UUID) else uuid.UUID(str(patient_id)),
        "what": what[:200],
        "request_path": None,
        "remote_addr": None,
    }
    if has_request_context():
        values["request_path"] = f"{request.method} {request.full_path.rstrip('?')}"[:300]
        values["remote_addr"] = (request.remote_addr or "")[:64] or None
    if _wants_write_lock():
        db.session.execute(_INSERT, values)
        return
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(_INSERT, values)
        commit_keeping_state()
        return
    with writing(), db.engine.begin() as connection:
        connection.execute(_INSERT, values)
