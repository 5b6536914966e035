"""Logging reads of a patient's orders: who looked at what, when, from where."""

from __future__ import annotations

import uuid
from typing import Any

from flask import has_request_context, request
from sqlalchemy import insert

from webapp.audit.models import PatientAccessLog
from webapp.db_types import utcnow
from webapp.extensions import _wants_write_lock, db, writing


def log_patient_access(user: Any, patient_id: uuid.UUID | str, what: str) -> None:
    """Record that ``user`` was shown ``what`` (e.g. "imaging history") of patient ``patient_id``.

    Pages and the API call this when they show a patient's orders. In a read request (GET) the
    row is written and committed at once in a short transaction of its own, so it is kept even
    though the request itself commits nothing; in a writing request or a ``writing()`` block it
    joins the caller's transaction (a second writer would wait on the first on SQLite).
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
        db.session.add(PatientAccessLog(**values))
        db.session.flush()
        return
    with writing(), db.engine.begin() as connection:
        connection.execute(insert(PatientAccessLog).values(**values))
