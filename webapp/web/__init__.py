"""What every page shares: front-end packages from node_modules, security headers, error pages,
template helpers. The feature packages (auth, patients, visits, imaging, dashboard) hold the views.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache

from flask import Blueprint, abort, current_app, redirect, render_template, send_from_directory, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from webapp.config import ROOT
from webapp.db_types import clinic_zone
from webapp.errors import is_api_request, problem
from webapp.extensions import db
from webapp.web import badges
from webapp.web.htmx import is_htmx

bp = Blueprint("web", __name__)

NODE_MODULES = ROOT / "node_modules"
# Only these folders of installed npm packages are served, under /vendor/<name>/.
VENDOR_PACKAGES = {
    "bootstrap": ("bootstrap", "dist"),
    "htmx": ("htmx.org", "dist"),
    "htmx-ext-sse": ("htmx-ext-sse", "dist"),
}

# Only the app's own files: no inline scripts, no inline styles, no other origins.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@cache
def _package_version(package: str) -> str:
    try:
        return json.loads((NODE_MODULES / package / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "0"


def vendor_url(name: str, path: str) -> str:
    """URL of a file of an installed front-end package, versioned for caching."""
    return url_for("web.vendor", name=name, path=path, v=_package_version(VENDOR_PACKAGES[name][0]))


@bp.route("/vendor/<name>/<path:path>")
def vendor(name: str, path: str):
    if name not in VENDOR_PACKAGES:
        abort(404)
    package, folder = VENDOR_PACKAGES[name]
    return send_from_directory(NODE_MODULES / package / folder, path, max_age=7 * 24 * 3600)


@bp.route("/")
def index():
    return redirect(url_for("dashboard.index"))


@bp.after_app_request
def security_headers(response):
    # setdefault: a view with special needs (e.g. API docs) may set its own policy.
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        response.vary.add("HX-Request")
        # Pages carry patient data: never kept in shared or browser caches.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


# ---------------------------------------------------------------------------- template helpers


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An aware UTC datetime shown in the clinic's time zone (APP_TIMEZONE)."""
    if value is None:
        return ""
    return value.astimezone(clinic_zone()).strftime(fmt)


class UrlPattern:
    """``url_for`` once for a whole list: the URL of ``endpoint`` with the value of ``key`` left
    open, filled per row by string replacement (``url_pattern('imaging.order_detail', 'order_id')``
    then ``pattern(order.id)``). ``url_for`` costs about 30 µs; the tablet's 180 cards called it
    540 times a render. For values that appear in a URL as they are (UUIDs, numbers)."""

    HOLE = "00000000-0000-4000-8000-0000000face0"

    def __init__(self, endpoint: str, key: str, **values) -> None:
        self.text = url_for(endpoint, **values, **{key: self.HOLE})
        if self.text.count(self.HOLE) != 1:
            raise ValueError(f"{endpoint}: {key} is not a part of its path")

    def __call__(self, value) -> str:
        return self.text.replace(self.HOLE, str(value))


def url_pattern(endpoint: str, key: str, **values) -> UrlPattern:
    return UrlPattern(endpoint, key, **values)


def has_endpoint(endpoint: str) -> bool:
    return endpoint in current_app.view_functions


def app_timezone() -> str:
    return current_app.config.get("APP_TIMEZONE", "UTC")


@bp.record_once
def _template_globals(state) -> None:
    # Globals (not a context processor) so that imported macros and htmx fragments see them too.
    state.app.jinja_env.globals.update(
        vendor_url=vendor_url, has_endpoint=has_endpoint, app_timezone=app_timezone, current_user=current_user,
        url_pattern=url_pattern, **badges.GLOBALS,
    )


@bp.app_template_filter("local")
def _local_filter(value, fmt: str = "%Y-%m-%d %H:%M"):
    return local_time(value, fmt)


# ---------------------------------------------------------------------------- error pages

ERROR_TEXT = {
    400: ("Bad request", "The request could not be understood."),
    401: ("Please sign in", "You need to sign in to see this page."),
    403: ("Not allowed", "Your role does not allow this page or action."),
    404: ("Not found", "There is no such page or record."),
    405: ("Not allowed", "This address does not take that kind of request."),
    413: ("Too large", "What you sent is too large."),
    500: ("Something went wrong", "The error was logged. Please try again in a moment."),
}


def _error_response(code: int, detail: str | None = None):
    title, text = ERROR_TEXT.get(code, ("Error", "Something went wrong."))
    if is_api_request():
        return problem(code, title, detail or text)
    template = "errors/_fragment.html" if is_htmx() else "errors/error.html"
    return render_template(template, code=code, title=title, text=detail or text), code


@bp.app_errorhandler(CSRFError)
def csrf_error(error):
    return _error_response(400, "The form expired or was sent from elsewhere. Reload the page and try again.")


@bp.app_errorhandler(HTTPException)
def http_error(error: HTTPException):
    if error.code is None or error.code < 400:
        return error
    if error.code >= 500:
        _roll_back()
    return _error_response(error.code, error.description if getattr(error, "show_description", False) else None)


def _roll_back() -> None:
    """A request that failed inside a transaction left the session unusable until rolled back; the
    error page (which may load the signed-in user) must not fail on that itself."""
    try:
        db.session.rollback()
    except Exception:  # the connection is gone: the pool discards it
        current_app.logger.warning("Rolling back after an error failed", exc_info=True)


@bp.app_errorhandler(500)
def server_error(error):
    _roll_back()
    return _error_response(500)


from webapp.web import guards  # noqa: E402,F401  (request checks register on bp)
