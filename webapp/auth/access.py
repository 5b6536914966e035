"""Role checks for views. Which role may change an order lives in imaging.workflow, not here."""

from __future__ import annotations

from collections.abc import Iterable
from functools import wraps

from flask import abort
from flask_login import current_user, login_required


def roles_required(roles: Iterable[str]):
    """The view needs a signed-in user with one of ``roles`` (403 otherwise)."""
    allowed = frozenset(str(role) for role in roles)

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator
