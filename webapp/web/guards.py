"""Checks every request passes before any view: crafted input refused, redirects kept on this site,
HTTPS pinned with HSTS when configured."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from flask import current_app, redirect, request
from werkzeug.exceptions import BadRequest
from werkzeug.routing import RequestRedirect

from webapp import text_guard
from webapp.errors import is_api_request
from webapp.web import bp


class RefusedCharacters(BadRequest):
    show_description = True  # the error page says this, not the generic text

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"The field {field!r} holds characters no field accepts. {message}")


def _first_problem(pairs) -> tuple[str, str] | None:
    for key, value in pairs:
        found = text_guard.first_problem({key: value})
        if found:
            return found
    return None


@bp.before_app_request
def refuse_control_characters():
    """NUL, other control characters (MLLP's framing bytes among them) and bidirectional
    overrides in a query string or form field, or a line break in a one-line field: 400 before a
    view (or PostgreSQL, which cannot store NUL) sees it (``webapp.text_guard``). The API answers
    its own 422 problem (webapp.api.common)."""
    if is_api_request():
        return None
    found = _first_problem(request.args.items(multi=True))
    if found is None and request.method not in ("GET", "HEAD") and request.mimetype in (
            "application/x-www-form-urlencoded", "multipart/form-data"):
        found = _first_problem(request.form.items(multi=True))
    if found:
        raise RefusedCharacters(*found)
    return None


@bp.before_app_request
def relative_routing_redirects():
    """Werkzeug redirects ``//`` to ``/`` (merge_slashes) and adds missing trailing slashes with an
    absolute URL built from the request's Host header, which a client chooses: answer with the
    path alone instead, so a crafted Host cannot send anyone elsewhere."""
    error = request.routing_exception
    if not isinstance(error, RequestRedirect):
        return None
    parts = urlsplit(error.new_url)
    path = "/" + parts.path.lstrip("/\\")
    return redirect(urlunsplit(("", "", path, parts.query, "")), error.code)


@bp.after_app_request
def strict_transport_security(response):
    """HSTS_SECONDS > 0: browsers keep to HTTPS for that long. Only on HTTPS answers (behind a
    proxy that ends TLS, set TRUSTED_PROXIES so X-Forwarded-Proto tells the app)."""
    seconds = int(current_app.config.get("HSTS_SECONDS") or 0)
    if seconds > 0 and request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", f"max-age={seconds}")
    return response
