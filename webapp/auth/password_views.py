"""Passwords: a user changes their own; an administrator resets anyone's. Either way every
other session and API token of that user ends (``accounts.set_new_password``)."""

from __future__ import annotations

import uuid

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from webapp.auth import bp
from webapp.auth.access import roles_required
from webapp.auth.accounts import set_new_password
from webapp.auth.forms import ChangePasswordForm, ResetPasswordForm
from webapp.auth.models import User
from webapp.auth.roles import Role
from webapp.auth.views import start_session
from webapp.extensions import db


def _apply(user: User, form, field) -> bool:
    """Set the form's new password on ``user``; False with the reason on ``field`` when refused."""
    try:
        set_new_password(user, form.new_password.data)
    except ValueError as error:
        db.session.rollback()
        field.errors.append(str(error))
        return False
    db.session.commit()
    return True


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    status = 200
    if form.validate_on_submit():
        user = db.session.get(User, current_user.id)
        if not user.check_password(form.current_password.data):
            form.current_password.errors.append("This is not your current password.")
            status = 422
        elif form.new_password.data == form.current_password.data:
            form.new_password.errors.append("The new password must differ from the current one.")
            status = 422
        elif _apply(user, form, form.new_password):
            start_session(user)  # this browser stays signed in, in the new generation
            flash("Password changed. You were signed out everywhere else (other browsers, tablets and "
                  "API tokens).", "success")
            return redirect(url_for("auth.change_password"), 303)
        else:
            status = 422
    elif form.is_submitted():
        status = 422
    return render_template("auth/password.html", form=form), status


@bp.route("/admin/users")
@roles_required([Role.ADMIN])
def users():
    people = list(db.session.scalars(select(User).order_by(User.role, User.username)))
    return render_template("auth/users.html", users=people)


@bp.route("/admin/users/<uuid:user_id>/password", methods=["GET", "POST"])
@roles_required([Role.ADMIN])
def reset_password(user_id: uuid.UUID):
    user = db.session.get(User, user_id) or abort(404)
    form = ResetPasswordForm()
    status = 200
    if form.validate_on_submit():
        if _apply(user, form, form.new_password):
            if user.id == current_user.id:
                start_session(user)
            flash(f"New password set for {user.username}; their sessions and API tokens have ended. "
                  "Tell them the password in person.", "success")
            return redirect(url_for("auth.users"), 303)
        status = 422
    elif form.is_submitted():
        status = 422
    return render_template("auth/reset_password.html", form=form, user=user), status
