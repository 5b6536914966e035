"""The app's errors, and how they are told to a program: one home for both.

Service errors are raised by the service layer (imaging, patients, visits, DICOM) and each maps
to one HTTP status and one message on a page. Everything under ``/api`` (and a client that asks
for it) gets problems as ``application/problem+json`` (RFC 9457), built by :func:`problem` or,
below Flask, :func:`problem_bytes`.
"""

from __future__ import annotations

import json

from flask import Response, request

PROBLEM_JSON = "application/problem+json"
API_PREFIX = "/api"


class ServiceError(Exception):
    """Base class; ``status`` is the HTTP status the API answers with, ``kind`` its problem type."""

    status = 400
    title = "Bad request"
    kind = "error"

    def __init_subclass__(cls, *, status: int | None = None, title: str | None = None,
                          kind: str | None = None, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.status = status or cls.status
        cls.title = title or cls.title
        cls.kind = kind or cls.kind

    def __init__(self, detail: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or {}

    def extra(self) -> dict:
        """Members the problem carries besides the standard ones."""
        return {}


class NotFound(ServiceError, status=404, title="Not found", kind="not-found"):
    """No record with that id (or number)."""


class PermissionDenied(ServiceError, status=403, title="Not allowed for your role", kind="forbidden"):
    """The user's role may not do this."""


class TransitionNotAllowed(ServiceError, status=409, title="Status change not allowed",
                           kind="transition-not-allowed"):
    """The order's status does not allow this step."""


class StationConflict(ServiceError, status=409, title="The scanner is not free", kind="station-conflict"):
    """A booking overlaps another or a downtime, or a scan starts on a scanner already scanning;
    ``conflicts`` names what is in the way (webapp.imaging.booking)."""

    def __init__(self, detail: str, conflicts: list[dict] | None = None, overridable: bool = False) -> None:
        super().__init__(detail)
        self.conflicts = conflicts or []
        self.overridable = overridable  # an overlap: allow_overlap books it anyway

    def extra(self) -> dict:
        return {"conflicts": self.conflicts, "overridable": self.overridable}


class DowntimeOver(ServiceError, status=409, title="The downtime is already over", kind="downtime-over"):
    """Ending or withdrawing a scanner's downtime that has already ended (webapp.imaging.downtime)."""


class StaleVersion(ServiceError, status=412, title="The order was changed by someone else", kind="stale-version"):
    """Someone else changed the order first."""

    def __init__(self, detail: str, current_version: int | None = None) -> None:
        super().__init__(detail)
        self.current_version = current_version

    def extra(self) -> dict:
        return {} if self.current_version is None else {"current_version": self.current_version}


class ValidationFailed(ServiceError, status=422, title="Invalid field values", kind="validation"):
    """Field values that break a rule; ``errors`` says which and why."""

    def __init__(self, errors: dict[str, str], detail: str | None = None) -> None:
        super().__init__(detail or "; ".join(f"{k}: {v}" for k, v in errors.items()), errors)


# ---------------------------------------------------------------------------- problems


def is_api_request() -> bool:
    """Is this request for the JSON API (``/api`` and below)?"""
    path = request.path
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def wants_problem_json() -> bool:
    """The API, or a client that prefers problem+json (e.g. ``/stream``'s EventSource fallback)."""
    return is_api_request() or request.accept_mimetypes.best == PROBLEM_JSON


def problem_body(status: int, title: str, detail: str, *, kind: str | None = None,
                 errors: dict[str, str] | None = None, **extra) -> dict:
    body = {
        "type": f"urn:imaging-orders:problem:{kind}" if kind else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    return body


def problem(status: int, title: str, detail: str, *, kind: str | None = None,
            errors: dict[str, str] | None = None, headers: dict[str, str] | None = None, **extra) -> Response:
    """A problem+json answer."""
    body = problem_body(status, title, detail, kind=kind, errors=errors, **extra)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def problem_bytes(status: int, title: str, detail: str) -> bytes:
    """The body of a problem, for WSGI middleware that answers before Flask runs."""
    return json.dumps(problem_body(status, title, detail)).encode()


def service_problem(error: ServiceError) -> Response:
    return problem(error.status, error.title, error.detail, kind=error.kind, errors=error.errors or None,
                   **error.extra())


def chain_error_handler(app, code: int | None, exception: type[Exception], applies, handler) -> None:
    """Answer the requests for which ``applies()`` holds with ``handler``; leave every other
    request to the handler registered before (another format's, the pages' error pages), or to
    Flask's default. The API (problem+json) and FHIR (OperationOutcome) each chain theirs."""
    previous = app.error_handler_spec[None][code].get(exception)

    def chained(error):
        if applies():
            return handler(error)
        return previous(error) if previous is not None else error

    app.register_error_handler(exception, chained)


KEPT_HEADERS = ("Allow", "WWW-Authenticate", "Retry-After")


def error_format_net(applies, mimetype: str, build):
    """An ``after_request`` hook: an error answered in another format (another feature's HTML
    page, say) to a request for which ``applies()`` holds is rebuilt as ``build(status, title,
    response)``, keeping the headers a client needs (``Allow``, ``WWW-Authenticate``, ``Retry-After``)."""
    from werkzeug.http import HTTP_STATUS_CODES

    def net(response: Response) -> Response:
        if response.status_code < 400 or response.mimetype == mimetype or not applies():
            return response
        replacement = build(response.status_code, HTTP_STATUS_CODES.get(response.status_code, "Error"), response)
        for name in KEPT_HEADERS:
            if name in response.headers:
                replacement.headers[name] = response.headers[name]
        return replacement

    return net
