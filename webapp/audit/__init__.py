"""Audit integrity: the append-only, hash-chained order event log, patient access logging,
and the ``audit verify`` command."""

from __future__ import annotations

import uuid
from typing import Any


def log_patient_access(user: Any, patient_id: uuid.UUID | str, what: str) -> None:
    """Record that ``user`` was shown ``what`` of a patient (see webapp.audit.access)."""
    # Imported here: the feature packages import this one while the models are still loading.
    from webapp.audit.access import log_patient_access as log

    log(user, patient_id, what)


__all__ = ["log_patient_access"]
