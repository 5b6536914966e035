"""Who is reading a study: one radiologist at a time.

A claim is a row of ``report_claims`` whose primary key is the order: the database decides
between two radiologists who claim at the same moment (the second INSERT fails on the key; no
check-then-insert). Opening the editor, saving a draft and signing claim the study (or refresh
the holder's claim); another radiologist's save or signature is refused (409) while the claim is
active. A claim nobody has used for REPORT_CLAIM_IDLE_MINUTES has lapsed: the next radiologist
takes it. An attending radiologist or an administrator may take over an active claim with a
reason: that is the order's ``take_over`` action, so it is audited on the order's timeline.

Claims are no change to the order (no version, no order event); each claim or release is
published after the commit as a ``claim-changed`` signal (the order's id only) so every reporting
queue re-fetches itself and shows "being read by Dr X, since 10:42".
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from webapp.auth.roles import Role
from webapp.db_types import utcnow
from webapp.errors import PermissionDenied, TransitionNotAllowed, ValidationFailed
from webapp.extensions import db
from webapp.reporting.models import ReportClaim

PENDING_KEY = "pending_claim_signals"
EVENT_TYPE = "claim-changed"


class ClaimHeld(TransitionNotAllowed, title="Another radiologist is reading this study", kind="claim-held"):
    """Another radiologist holds the study's claim (409)."""


def idle_limit() -> timedelta:
    return timedelta(minutes=current_app.config.get("REPORT_CLAIM_IDLE_MINUTES", 20))


def is_active(claim: ReportClaim | None, now: datetime | None = None) -> bool:
    return claim is not None and claim.last_active_at > (now or utcnow()) - idle_limit()


def _queue_signal(order) -> None:
    db.session.info.setdefault(PENDING_KEY, []).append(order)


def current(order_id) -> ReportClaim | None:
    """The order's active claim, or None (no claim, or a lapsed one)."""
    claim = db.session.execute(
        select(ReportClaim).where(ReportClaim.order_id == order_id).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    return claim if is_active(claim) else None


def active_claims(order_ids) -> dict:
    """order id -> active claim, for a page of orders (one query)."""
    ids = list(order_ids)
    if not ids:
        return {}
    cutoff = utcnow() - idle_limit()
    rows = db.session.scalars(select(ReportClaim).where(ReportClaim.order_id.in_(ids),
                                                        ReportClaim.last_active_at > cutoff))
    return {claim.order_id: claim for claim in rows}


def holder_label(claim: ReportClaim) -> str:
    return claim.reader.display_name if claim.reader else "another radiologist"


def _check_reader(user, order) -> None:
    if getattr(user, "role", None) != Role.RADIOLOGIST:
        raise PermissionDenied("Only radiologists claim studies to report.")
    if order.status != "completed":
        raise TransitionNotAllowed(
            f"Order {order.accession_number} is {order.status_label.lower()}: only a completed scan is claimed.")
    if order.report_details is not None and order.report_details.preliminary_at is not None:
        raise TransitionNotAllowed(f"Order {order.accession_number} has a preliminary report: it awaits co-signature, "
                                   "which needs no claim.")


def _refuse(claim: ReportClaim, order) -> None:
    raise ClaimHeld(f"{holder_label(claim)} is reading order {order.accession_number} "
                    f"(since {claim.claimed_at:%H:%M} UTC): it is theirs to report.")


def claim(user, order, now: datetime | None = None) -> ReportClaim:
    """Claim the study for ``user`` (or refresh their claim). 409 (ClaimHeld) when another
    radiologist's claim is active. Flushes, never commits."""
    _check_reader(user, order)
    now = now or utcnow()
    existing = db.session.execute(
        select(ReportClaim).where(ReportClaim.order_id == order.id).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if existing is not None and existing.user_id == user.id:
        existing.last_active_at = now
        db.session.flush()
        return existing
    if is_active(existing, now):
        _refuse(existing, order)
    if existing is not None:
        # A lapsed claim: remove that very row (another taker may have done so first).
        db.session.execute(delete(ReportClaim).where(
            ReportClaim.order_id == order.id, ReportClaim.user_id == existing.user_id,
            ReportClaim.last_active_at == existing.last_active_at))
        db.session.expunge(existing)
    row = ReportClaim(order_id=order.id, user_id=user.id, claimed_at=now, last_active_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        # Another radiologist's INSERT won the key: theirs is the claim.
        winner = current(order.id)
        if winner is not None:
            _refuse(winner, order)
        raise ClaimHeld(f"Another radiologist has just claimed order {order.accession_number}.") from None
    _queue_signal(order)
    return row


def release(user, order) -> bool:
    """Give the study back (only one's own claim). Whether there was one to release."""
    if getattr(user, "role", None) != Role.RADIOLOGIST:
        raise PermissionDenied("Only radiologists claim studies to report.")
    result = db.session.execute(delete(ReportClaim).where(ReportClaim.order_id == order.id,
                                                          ReportClaim.user_id == user.id))
    if result.rowcount:
        _queue_signal(order)
    return bool(result.rowcount)


def require_holder(user, order) -> None:
    """Before a radiologist writes or signs: they hold the claim (it is taken or refreshed now),
    or another radiologist does (409)."""
    claim(user, order)


def end(order) -> None:
    """The report is signed: nobody reads the study any more."""
    with db.session.no_autoflush:
        db.session.execute(delete(ReportClaim).where(ReportClaim.order_id == order.id))
    _queue_signal(order)


def may_take_over(user) -> bool:
    """Attending radiologists (not trainees) and administrators."""
    role = getattr(user, "role", None)
    return role == Role.ADMIN or (role == Role.RADIOLOGIST and not getattr(user, "is_trainee", False))


def take_over_step(order, actor, values: dict, moment: datetime) -> dict:
    """The ``take_over`` action's step: the claim passes to the actor (a radiologist) or is
    released (an administrator frees the study for anyone); the reason is on the event."""
    from webapp.auth.models import User

    user = db.session.get(User, actor.user_id)
    if not may_take_over(user):
        raise PermissionDenied("Only an attending radiologist or an administrator takes over a study.")
    if not values.get("reason"):
        raise ValidationFailed({"reason": "Say why you take the study over."})
    existing = db.session.execute(
        select(ReportClaim).where(ReportClaim.order_id == order.id).with_for_update()
    ).scalar_one_or_none()
    previous = holder_label(existing) if existing is not None else None
    with db.session.no_autoflush:
        db.session.execute(delete(ReportClaim).where(ReportClaim.order_id == order.id))
    if user.role == Role.RADIOLOGIST:
        db.session.add(ReportClaim(order_id=order.id, user_id=user.id, claimed_at=moment, last_active_at=moment))
    _queue_signal(order)
    return {"claim": {"from": previous, "to": user.display_name if user.role == Role.RADIOLOGIST else None,
                      "reason": values["reason"]}}


def _signals(_session, pending) -> list[dict]:
    seen, signals = set(), []
    for order in pending:
        if order.id not in seen:
            seen.add(order.id)
            signals.append({"id": str(order.id), "accession_number": order.accession_number})
    return signals


def register_session_listeners() -> None:
    from webapp.events.publishing import publish_after_commit

    publish_after_commit(PENDING_KEY, _signals, EVENT_TYPE)
