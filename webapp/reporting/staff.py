"""``/admin/radiologists`` (admins): which radiologists are trainees (their reports are
preliminary until an attending co-signs them, webapp.reporting.cosign) and which are attendings."""

from __future__ import annotations

import logging
import uuid

from flask import abort, flash, redirect, url_for
from flask_login import current_user
from sqlalchemy import select

from webapp.auth.access import roles_required
from webapp.auth.models import User
from webapp.auth.roles import Role
from webapp.extensions import db
from webapp.reporting.forms import PlainForm
from webapp.reporting.web import bp
from webapp.web.htmx import render_page

log = logging.getLogger(__name__)


@bp.route("/admin/radiologists")
@roles_required({Role.ADMIN})
def radiologists_page():
    people = db.session.scalars(select(User).where(User.role == str(Role.RADIOLOGIST)).order_by(User.username)).all()
    return render_page("reporting/radiologists.html", people=people, plain=PlainForm())


@bp.route("/admin/radiologists/<uuid:user_id>/trainee", methods=["POST"])
@roles_required({Role.ADMIN})
def set_trainee(user_id: uuid.UUID):
    """Mark a radiologist a trainee (``trainee=1``) or an attending (``trainee=0``)."""
    from flask import request

    if not PlainForm().validate_on_submit() or request.form.get("trainee") not in ("0", "1"):
        abort(400)
    user = db.session.get(User, user_id)
    if user is None or user.role != str(Role.RADIOLOGIST):
        abort(404)
    user.is_trainee = request.form["trainee"] == "1"
    db.session.commit()
    log.info("%s marked %s as %s", current_user.username, user.username, "trainee" if user.is_trainee else "attending")
    flash(f"{user.display_name} is now {'a trainee' if user.is_trainee else 'an attending'}.", "success")
    return redirect(url_for("reporting.radiologists_page"), 303)
