"""Checking a username and password: one road for the login page and ``POST /api/v1/auth/token``.

The same work is done whatever the account: unknown, disabled or enabled, the password is
hashed once (against a dummy hash when there is no such user), so neither the answer nor its
time tells which accounts exist or are disabled. Throttling (``webapp.auth.throttle``) counts
the attempt before the password is looked at.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.auth import throttle
from webapp.auth.models import User
from webapp.extensions import commit_keeping_state, db

_DUMMY_HASHES: dict[str, str] = {}
# A refused attempt looks again, with growing pauses, for this long before answering 429:
# attempts of the same account still being checked (their reservations count as failures until
# they end) may turn out right, and a right password gives its reservation back. Guesses still
# end refused, only later (which slows them down too).
RECHECK_SECONDS, FIRST_PAUSE = 6.0, 0.05


def _dummy_hash() -> str:
    """A hash made like real users' (PASSWORD_HASH_METHOD), to check a password against when the
    user does not exist: as much work as for a real account."""
    method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
    if method not in _DUMMY_HASHES:
        _DUMMY_HASHES[method] = generate_password_hash(secrets.token_hex(16), method=method)
    return _DUMMY_HASHES[method]


@dataclass(frozen=True)
class SignIn:
    """The outcome: the user (right password, enabled account), or a refusal (throttled), or neither."""

    user: User | None = None
    refusal: throttle.Refusal | None = None


def check_sign_in(username: str, password: str) -> SignIn:
    """Throttle, then check the password; the caller commits afterwards (also after a failure).

    The attempt is counted and committed *before* the password is hashed, so parallel attempts
    see each other's counts and no transaction (nor SQLite's write lock) is held while hashing.
    A refused attempt is rolled back: it counts nowhere.
    """
    deadline, pause = time.monotonic() + RECHECK_SECONDS, FIRST_PAUSE
    while True:
        reservation = throttle.reserve(username)
        if not reservation.refusal:
            break
        db.session.rollback()
        if time.monotonic() + pause > deadline:
            return SignIn(refusal=reservation.refusal)
        time.sleep(pause)
        pause *= 2
    user = db.session.scalar(select(User).where(func.lower(User.username) == (username or "").strip().lower()))
    stored = user.password_hash if user is not None else _dummy_hash()
    enabled = user is not None and bool(user.is_enabled)
    commit_keeping_state()
    matched = check_password_hash(stored, password or "")
    if matched and enabled:
        throttle.succeeded(reservation)
        return SignIn(user=user)
    throttle.failed(reservation)
    return SignIn()
