"""``/admin/outbox`` (admins): the queue by state with the last errors; a dead message can be retried."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, url_for
from flask_login import current_user
from sqlalchemy import func, select

from webapp import heartbeats
from webapp.auth.access import roles_required
from webapp.auth.roles import Role
from webapp.db_types import utcnow
from webapp.extensions import db
from webapp.imaging.models import ImagingOrder
from webapp.outbox import bp
from webapp.outbox.models import STATES, OutboxAction, OutboxMessage
from webapp.web.htmx import is_htmx, render_page

LIST_LIMIT = 200


def _messages(state: str, newest_first: bool = False) -> list:
    order = OutboxMessage.id.desc() if newest_first else OutboxMessage.id
    return db.session.execute(
        select(OutboxMessage, ImagingOrder.accession_number)
        .join(ImagingOrder, ImagingOrder.id == OutboxMessage.order_id)
        .where(OutboxMessage.state == state).order_by(order).limit(LIST_LIMIT)
    ).all()


def _render(message: tuple[str, str] | None = None, status: int = 200):
    counts = dict.fromkeys(STATES, 0) | dict(db.session.execute(
        select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
    ).all())
    now = utcnow()
    dispatcher = heartbeats.latest("outbox dispatcher")
    return render_page(
        "admin/outbox.html", "queue", status=status, counts=counts, message=message, limit=LIST_LIMIT,
        dead=_messages("dead", newest_first=True), failed=_messages("failed"), pending=_messages("pending"),
        now=now, receivers=current_app.config.get("HL7_OUTBOUND") or [], dispatcher=dispatcher,
        dispatcher_alive=heartbeats.is_alive(dispatcher, now),
    )


@bp.route("/admin/outbox")
@roles_required({Role.ADMIN})
def outbox_page():
    return _render()


@bp.route("/admin/outbox/<id:message_id>/retry", methods=["POST"])
@roles_required({Role.ADMIN})
def retry(message_id: int):
    """A dead message goes back to the queue with its attempts reset; the retry is recorded."""
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.id == message_id).with_for_update())
    if row is None:
        abort(404)
    if row.state != "dead":
        db.session.rollback()
        return _done(("warning", f"Message {message_id} is {row.state}, not dead: nothing to retry."), 409)
    db.session.add(OutboxAction(
        message_id=row.id, action="retry", actor_id=current_user.id, actor_label=current_user.display_name[:128],
        created_at=utcnow(), previous_state=row.state, previous_error=row.last_error, attempts=row.attempts,
    ))
    row.state, row.attempts, row.next_attempt_at = "pending", 0, utcnow()
    row.claimed_by, row.claimed_until, row.sending_since = None, None, None
    db.session.commit()
    return _done(("success", f"Message {message_id} is queued again."), 200)


def _done(message: tuple[str, str], status: int):
    if is_htmx():
        return _render(message, status)
    flash(message[1], message[0])
    return redirect(url_for("outbox.outbox_page"), 303)
