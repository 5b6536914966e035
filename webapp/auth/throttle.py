"""Sign-in throttling: atomic counters per (account, address) pair, per address and per account.

Every sign-in attempt (the login page and ``POST /api/v1/auth/token``, through
``webapp.auth.signin``) first *reserves* a failure on three counters, each in one atomic
``INSERT … ON CONFLICT DO UPDATE … RETURNING`` (check and increment in one statement, so a
burst of parallel attempts cannot all read "below the limit" before any of them counts):

- the (username, client address) pair: ``LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS`` failures per
  ``LOGIN_THROTTLE_MINUTES``;
- the client address, any usernames: ``LOGIN_MAX_FAILURES_PER_ADDRESS`` per ``LOGIN_THROTTLE_MINUTES``;
- the username, any addresses: ``LOGIN_MAX_FAILURES_PER_ACCOUNT`` per ``LOGIN_ACCOUNT_LOCK_MINUTES``
  (a higher limit and a longer window: the defence against guessing from many addresses).

An attempt whose count goes over a limit is refused (429) and its reservation is rolled back,
so refused attempts never count: an address refused for a pair adds nothing to the account's
count, and one address alone cannot lock an account for everybody else (with the defaults it
adds at most 5 failures per 15 minutes, 25 per hour, against an account limit of 50). The pair
and address counters are checked before the account's is touched.

A successful sign-in resets its pair's and its account's counts and gives back its reservation
on the address. The counters are keyed by the username as typed (lower case), whether or not such an
account exists, so neither answers nor timing tell who exists. Rows live in ``login_throttle``,
shared by every worker; expired rows are purged as failures come in.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from flask import current_app, has_request_context, request
from sqlalchemy import BigInteger, Index, Integer, String, case, delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db

PURGE_BATCH = 200


class LoginThrottle(db.Model):
    """One counter: failed sign-ins of one scope (pair, address or account) in its current window."""

    __tablename__ = "login_throttle"

    scope: Mapped[str] = mapped_column(String(160), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_ends: Mapped[int] = mapped_column(BigInteger)  # Unix seconds

    __table_args__ = (Index("ix_login_throttle_window_ends", "window_ends"),)


def username_key(username: str | None) -> str:
    return (username or "").strip().lower()[:64]


def client_address() -> str:
    """The client's address as the app sees it (behind proxies, set TRUSTED_PROXIES so it is the client's)."""
    return ((request.remote_addr if has_request_context() else None) or "unknown")[:64]


@dataclass(frozen=True)
class Refusal:
    message: str
    retry_after: int  # seconds


@dataclass
class Reservation:
    """The counters one attempt counted itself on, and the window each count belongs to."""

    pair: str
    address: str
    account: str
    counted: dict[str, int] = field(default_factory=dict)  # scope -> window_ends
    refusal: Refusal | None = None


def _config(name: str, default: int) -> int:
    return int(current_app.config.get(name, default))


def _limits(key: str, address: str) -> list[tuple[str, int, int]]:
    """(scope, limit, window seconds), in the order they are counted (always the same order, so
    concurrent attempts lock the rows in the same order and cannot deadlock)."""
    short = _config("LOGIN_THROTTLE_MINUTES", 15) * 60
    return [
        (f"pair:{address}|{key}", _config("LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS", 5), short),
        (f"addr:{address}", _config("LOGIN_MAX_FAILURES_PER_ADDRESS", 20), short),
        (f"acct:{key}", _config("LOGIN_MAX_FAILURES_PER_ACCOUNT", 50),
         _config("LOGIN_ACCOUNT_LOCK_MINUTES", 60) * 60),
    ]


def _count(scope: str, window: int, now: int) -> tuple[int, int]:
    """Add one to the scope's counter (a fresh window if the last one ended): (count, window_ends)."""
    insert = postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    expired = LoginThrottle.window_ends <= now
    statement = insert(LoginThrottle).values(scope=scope, failures=1, window_ends=now + window)
    statement = statement.on_conflict_do_update(
        index_elements=[LoginThrottle.scope],
        set_={
            "failures": case((expired, 1), else_=LoginThrottle.failures + 1),
            "window_ends": case((expired, now + window), else_=LoginThrottle.window_ends),
        },
    ).returning(LoginThrottle.failures, LoginThrottle.window_ends)
    count, ends = db.session.execute(statement).one()
    return count, ends


def _refusal(seconds: int) -> Refusal:
    seconds = max(1, seconds)
    wait = math.ceil(seconds / 60)
    return Refusal(f"Too many failed sign-in attempts. Try again in {wait} minute{'s' if wait != 1 else ''}.",
                   seconds)


def reserve(username: str | None, remote_addr: str | None = None) -> Reservation:
    """Count this attempt as a failure on every counter, or say why it is refused.

    With a refusal the caller rolls the transaction back (a refused attempt counts nowhere);
    otherwise it commits before checking the password, and reports the outcome with
    ``succeeded()`` or ``failed()``.
    """
    key, address = username_key(username), (remote_addr or client_address())[:64]
    now = int(time.time())
    limits = _limits(key, address)
    reservation = Reservation(*(scope for scope, _, _ in limits))
    for scope, limit, window in limits:
        count, ends = _count(scope, window, now)
        if count > limit:
            reservation.refusal = _refusal(ends - now)
            return reservation
        reservation.counted[scope] = ends
    return reservation


def succeeded(reservation: Reservation) -> None:
    """The password was right: the pair and the account start again from nothing (the account's
    owner is back in), the address gets its reservation back (many people share an address)."""
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.scope.in_([reservation.pair, reservation.account])))
    ends = reservation.counted.get(reservation.address)
    if ends is not None:
        db.session.execute(
            update(LoginThrottle)
            .where(LoginThrottle.scope == reservation.address, LoginThrottle.window_ends == ends,
                   LoginThrottle.failures > 0)
            .values(failures=LoginThrottle.failures - 1)
        )


def failed(reservation: Reservation) -> None:
    """The reservation stands as the failure; purge counters whose window has ended."""
    now = int(time.time())
    # SKIP LOCKED on PostgreSQL: the purge never waits on (or deadlocks with) an attempt counting.
    expired = select(LoginThrottle.scope).where(LoginThrottle.window_ends < now).limit(PURGE_BATCH)
    scopes = list(db.session.scalars(expired.with_for_update(skip_locked=True)))
    if scopes:
        db.session.execute(delete(LoginThrottle).where(LoginThrottle.scope.in_(scopes), LoginThrottle.window_ends < now))
