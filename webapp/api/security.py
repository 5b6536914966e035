"""Who is calling: bearer tokens (itsdangerous) or the browser session plus the CSRF header.

A token carries the user's id and ``session_generation``; it is refused once it expires, once
the user is disabled, and once the generation changes (logout everywhere, password change).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable

from flask import current_app, g, request
from flask_login import current_user
from flask_wtf.csrf import validate_csrf
from itsdangerous import BadSignature, URLSafeTimedSerializer
from wtforms import ValidationError as CsrfError

from webapp.api.errors import ApiError
from webapp.auth.models import User
from webapp.extensions import SAFE_METHODS, db

TOKEN_SALT = "webapp.api.token.v1"
ROLES_ATTRIBUTE = "api_roles"
PUBLIC_ATTRIBUTE = "api_public"


def token_lifetime() -> int:
    """Seconds a bearer token stays valid (API_TOKEN_MINUTES)."""
    return int(current_app.config.get("API_TOKEN_MINUTES", 60)) * 60


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=TOKEN_SALT)


def issue_token(user: User) -> str:
    return _serializer().dumps({"uid": str(user.id), "gen": user.session_generation})


def user_for_token(token: str) -> User | None:
    """The enabled user a valid, unexpired token names, or None."""
    try:
        payload = _serializer().loads(token, max_age=token_lifetime())
        user_id = uuid.UUID(payload["uid"])
        generation = int(payload["gen"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    user = db.session.get(User, user_id)
    if user is None or not user.is_enabled or user.session_generation != generation:
        return None
    return user


# ---------------------------------------------------------------------------- per-endpoint rules


def requires(roles: Iterable[str]) -> Callable:
    """Only these roles may call the endpoint (403 for others). Put it under the route decorator."""

    def mark(view):
        setattr(view, ROLES_ATTRIBUTE, frozenset(str(role) for role in roles))
        return view

    return mark


NO_BODY_ATTRIBUTE = "_api_no_body"


def no_body(view):
    """A POST that takes no body: sent without one, it needs no Content-Type (a body sent is still JSON)."""
    setattr(view, NO_BODY_ATTRIBUTE, True)
    return view


def public(view):
    """No authentication needed (the token endpoint)."""
    setattr(view, PUBLIC_ATTRIBUTE, True)
    return view


def unauthorized(detail: str) -> ApiError:
    return ApiError(401, "Not signed in", detail, kind="unauthorized",
                    headers={"WWW-Authenticate": 'Bearer realm="api"'})


def _csrf_header() -> str | None:
    return request.headers.get("X-CSRFToken") or request.headers.get("X-CSRF-Token")


def _session_user() -> User:
    user = current_user._get_current_object()
    if request.method not in SAFE_METHODS and current_app.config.get("WTF_CSRF_ENABLED", True):
        try:
            validate_csrf(_csrf_header())
        except CsrfError as exc:
            raise ApiError(403, "CSRF check failed",
                           f"{exc} Send the page's CSRF token in the X-CSRFToken header, or use a bearer token.",
                           kind="csrf") from None
    return user


def authenticate(view) -> None:
    """Run before every API view: set ``g.api_user`` or raise 401/403."""
    if getattr(view, PUBLIC_ATTRIBUTE, False) or request.method == "OPTIONS":
        return
    header = request.headers.get("Authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("Use 'Authorization: Bearer <token>' (POST /api/v1/auth/token gives one).")
        user = user_for_token(token.strip())
        if user is None:
            raise unauthorized("The token is invalid or has expired, or its user was signed out or disabled.")
    elif current_user.is_authenticated:
        user = _session_user()
    else:
        raise unauthorized("Sign in: send a bearer token from POST /api/v1/auth/token.")
    g.api_user = user
    roles = getattr(view, ROLES_ATTRIBUTE, None)
    if roles is not None and user.role not in roles:
        raise ApiError(403, "Not allowed for your role", f"The {user.role} role cannot do this.", kind="forbidden")


def api_user() -> User:
    return g.api_user
