"""Sign in and out, and the session's idle and absolute time limits."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import current_app, flash, make_response, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from webapp.auth import bp
from webapp.auth.forms import LoginForm
from webapp.auth.models import User
from webapp.auth.roles import Role
from webapp.auth.signin import check_sign_in
from webapp.db_types import utcnow
from webapp.errors import is_api_request, problem
from webapp.extensions import db, login_manager
from webapp.web.htmx import is_htmx

LOGIN_AT, SEEN_AT = "login_at", "seen_at"
# Refresh the idle clock at most this often, so not every request rewrites the cookie.
SEEN_RESOLUTION_SECONDS = 30


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site (no scheme, no host, no protocol-relative //evil, no control
    characters: CR/LF would split the Location header)."""
    if not target or any(ord(char) < 32 or ord(char) == 127 for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


# Where each role's work is: the page it lands on after signing in (unless ``next=`` says).
HOME_ENDPOINTS = {
    Role.TECHNICIAN: "imaging.worklist",
    Role.RADIOLOGIST: "dashboard.to_report",
    Role.SCHEDULER: "dashboard.to_schedule",
    Role.DISPLAY: "dashboard.wall",
}


def home_for(user: User) -> str:
    return url_for(HOME_ENDPOINTS.get(user.role, "dashboard.index"))


def start_session(user: User) -> None:
    """A new session for ``user`` in this browser: nothing from before (e.g. a planted session) survives."""
    session.clear()
    login_user(user)
    session.permanent = True
    session[LOGIN_AT] = session[SEEN_AT] = int(time.time())


@bp.route("/login", methods=["GET", "POST"])
def login():
    next_url = _safe_next(request.values.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url or home_for(current_user), 303)
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        # Throttled per account and address before any password is checked (webapp.auth.signin).
        outcome = check_sign_in(form.username.data, form.password.data)
        if outcome.refusal:
            form.password.errors.append(outcome.refusal.message)
            return render_template("auth/login.html", form=form, next_url=next_url), 429, {
                "Retry-After": str(outcome.refusal.retry_after)}
        user = outcome.user
        if user is not None:
            start_session(user)
            user.last_login_at = utcnow()
            db.session.commit()
            return redirect(next_url or home_for(user), 303)
        db.session.commit()
        form.password.errors.append("Wrong username or password.")
        status = 401
    elif request.method == "POST":
        status = 422
    return render_template("auth/login.html", form=form, next_url=next_url), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    # Bumping the generation ends this user's sessions everywhere (the user loader checks it).
    user = db.session.get(User, current_user.id)
    user.session_generation = (user.session_generation or 0) + 1
    db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"), 303)


def _background_request() -> bool:
    """The event stream and the live re-fetches it sets off are not the user's activity: an open
    page must not keep an idle session alive. The wall display (a kiosk) has only these."""
    background = request.endpoint == "events.stream" or request.headers.get("X-Live-Refresh") == "1"
    return background and not (current_user.is_authenticated and current_user.role == Role.DISPLAY)


@bp.before_app_request
def enforce_session_limits():
    """Sign out after SESSION_IDLE_MINUTES without a request, or SESSION_MAX_HOURS after sign-in."""
    if request.endpoint in ("static", "web.vendor") or LOGIN_AT not in session:
        return None
    now = int(time.time())
    idle = current_app.config["SESSION_IDLE_MINUTES"] * 60
    absolute = current_app.config["SESSION_MAX_HOURS"] * 3600
    if now - session.get(SEEN_AT, 0) > idle or now - session[LOGIN_AT] > absolute:
        logout_user()
        session.clear()
        flash("Your session expired. Please sign in again.", "warning")
        return None
    if now - session.get(SEEN_AT, 0) >= SEEN_RESOLUTION_SECONDS and not _background_request():
        session[SEEN_AT] = now
    return None


@login_manager.unauthorized_handler
def unauthorized():
    if is_api_request():
        return problem(401, "Not signed in", "Sign in or send a token.")
    login_url = url_for("auth.login", next=request.full_path.rstrip("?") if request.method == "GET" else None)
    if is_htmx():
        # htmx would swap the login page into a fragment; send the whole browser there instead.
        response = make_response("", 401)
        response.headers["HX-Redirect"] = login_url
        return response
    if "_flashes" not in session or not session["_flashes"]:
        flash("Please sign in to continue.", "info")
    return redirect(login_url, 303)
