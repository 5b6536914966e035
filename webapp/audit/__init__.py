"""Audit integrity: the append-only, hash-chained order event log, patient access logging,
and the ``audit verify`` and ``audit access`` commands."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

# Imported inside the functions: the feature packages import this one while the models are still loading.


def record_read(user: Any, what: str, patient_ids: Iterable[uuid.UUID | str | None],
                subjects: Iterable[str] = (), patient_set: int | None = None) -> None:
    """Note that this request shows ``what`` of these patients (and of ``subjects``: people who
    are no registered patient, as text): one access row per request (see webapp.audit.access;
    ``patient_set``: the stored set of exactly these patients, for a shared live region)."""
    from webapp.audit.access import record_read as record

    record(user, what, patient_ids, subjects, patient_set)


def log_patient_access(user: Any, patient_id: uuid.UUID | str, what: str) -> None:
    """Record now that ``user`` was shown ``what`` of a patient (see webapp.audit.access)."""
    from webapp.audit.access import log_patient_access as log

    log(user, patient_id, what)


__all__ = ["log_patient_access", "record_read"]
