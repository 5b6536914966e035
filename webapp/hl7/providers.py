"""Which account an HL7 provider field names (ORC-12, OBR-16, PV1-7, PV1-8: XCN ``id^family^given``).

Component 1 is the provider's identifier in the hospital's systems (an NPI, or the EHR's number):
it is looked up in the accounts' ``provider_id`` (``flask users create NAME --role doctor
--provider-id 1234567893``), and, when no account carries it, as a user name (any case), so the
accounts of before provider ids keep working.
"""

from __future__ import annotations

from sqlalchemy import func, select

from webapp.auth.models import User
from webapp.extensions import db


def find_provider(identifier: str) -> User | None:
    """The account whose provider id, else whose user name, is ``identifier`` (any case)."""
    wanted = (identifier or "").strip().lower()
    if not wanted:
        return None
    by_id = db.session.scalar(select(User).where(func.lower(User.provider_id) == wanted))
    if by_id is not None:
        return by_id
    return db.session.scalar(select(User).where(func.lower(User.username) == wanted))


def find_doctor(identifier: str) -> User | None:
    """The enabled doctor account ``identifier`` names, or None."""
    user = find_provider(identifier)
    return user if user is not None and user.role == "doctor" and user.is_enabled else None
