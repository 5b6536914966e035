"""Audit integrity: the append-only, hash-chained order event log, patient access logging,
and the ``audit`` and ``backup`` commands."""

from webapp.audit.access import log_patient_access

__all__ = ["log_patient_access"]
