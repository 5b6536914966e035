"""Sign-in throttling per account and per address, shared by every worker through the database.

Both the login page and ``POST /api/v1/auth/token`` ask ``sign_in_refusal()`` before checking a
password and call ``record_sign_in()`` after. After ``LOGIN_MAX_FAILURES_PER_ACCOUNT`` failed
attempts for one username (existing or not, so the answer reveals nothing about who exists)
within ``LOGIN_THROTTLE_MINUTES``, further attempts for it are refused, even with the right
password, until the window has passed; the same with ``LOGIN_MAX_FAILURES_PER_ADDRESS`` for one
client address. A successful sign-in clears the account's count. Attempts are rows in
``login_attempts``, so every gunicorn worker sees the same counts; on PostgreSQL an advisory
lock per username makes check-and-record atomic.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, has_request_context, request
from sqlalchemy import Boolean, Index, Integer, String, delete, func, select, text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.db_types import UTCDateTime, utcnow
from webapp.extensions import db

THROTTLE_LOCK_NAMESPACE = 0x6C6F67  # "log": the advisory lock keys of sign-in throttling
KEEP_ATTEMPTS = timedelta(days=1)


class LoginAttempt(db.Model):
    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    username_key: Mapped[str] = mapped_column(String(64))
    remote_addr: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index("ix_login_attempts_username_key_attempted_at", "username_key", "attempted_at"),
        Index("ix_login_attempts_remote_addr_attempted_at", "remote_addr", "attempted_at"),
    )


def _key(username: str | None) -> str:
    return (username or "").strip().lower()[:64]


def client_address() -> str:
    """The client's address as the app sees it (behind a proxy, configure ProxyFix so it is the client's)."""
    return ((request.remote_addr if has_request_context() else None) or "unknown")[:64]


def _window() -> timedelta:
    return timedelta(minutes=current_app.config.get("LOGIN_THROTTLE_MINUTES", 15))


def _lock(username_key: str) -> None:
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            text("SELECT pg_advisory_xact_lock(:space, :key)"),
            {"space": THROTTLE_LOCK_NAMESPACE, "key": zlib.crc32(username_key.encode()) - 2**31},
        )


@dataclass(frozen=True)
class Refusal:
    message: str
    retry_after: int  # seconds


def sign_in_refusal(username: str | None, remote_addr: str | None = None) -> Refusal | None:
    """Why this attempt must be refused without checking the password, or None to go ahead.

    The answer is the same whether or not the account exists.
    """
    key, address = _key(username), (remote_addr or client_address())
    _lock(key)
    now = utcnow()
    since = now - _window()
    last_success = db.session.scalar(
        select(func.max(LoginAttempt.attempted_at)).where(
            LoginAttempt.username_key == key, LoginAttempt.succeeded.is_(True)
        )
    )
    account_since = max(since, last_success) if last_success else since
    account_failures = db.session.execute(
        select(func.count(), func.min(LoginAttempt.attempted_at)).where(
            LoginAttempt.username_key == key, LoginAttempt.succeeded.is_(False),
            LoginAttempt.attempted_at > account_since,
        )
    ).one()
    address_failures = db.session.execute(
        select(func.count(), func.min(LoginAttempt.attempted_at)).where(
            LoginAttempt.remote_addr == address, LoginAttempt.succeeded.is_(False),
            LoginAttempt.attempted_at > since,
        )
    ).one()
    config = current_app.config
    for (count, oldest), limit in (
        (account_failures, config.get("LOGIN_MAX_FAILURES_PER_ACCOUNT", 5)),
        (address_failures, config.get("LOGIN_MAX_FAILURES_PER_ADDRESS", 20)),
    ):
        if count >= limit:
            seconds = max(1, math.ceil(((oldest + _window()) - now).total_seconds()))
            wait = math.ceil(seconds / 60)
            return Refusal(
                f"Too many failed sign-in attempts. Try again in {wait} minute{'s' if wait != 1 else ''}.", seconds
            )
    return None


def record_sign_in(username: str | None, succeeded: bool, remote_addr: str | None = None) -> None:
    """Add the attempt to the caller's transaction (the caller commits, also after a failure)."""
    now = utcnow()
    db.session.add(LoginAttempt(
        attempted_at=now, username_key=_key(username), remote_addr=remote_addr or client_address(),
        succeeded=succeeded,
    ))
    if not succeeded:
        db.session.execute(delete(LoginAttempt).where(LoginAttempt.attempted_at < now - KEEP_ATTEMPTS))
    db.session.flush()
