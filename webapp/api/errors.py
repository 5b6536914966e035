"""Errors of the API as ``application/problem+json`` (RFC 9457), for everything under /api.

Service errors (``webapp.errors``) keep their own status; HTTP errors (unknown route,
wrong method, body too large) and Pydantic validation errors are turned into problems here.
The transaction is rolled back before any problem is sent, so nothing is half-written.
"""

from __future__ import annotations

import logging

from flask import Flask, Response
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException, InternalServerError

from webapp.errors import (
    PROBLEM_JSON,
    ServiceError,
    chain_error_handler,
    error_format_net,
    is_api_request,
    problem,
    service_problem,
)
from webapp.extensions import db

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error raised by the API layer itself (authentication, malformed input, duplicates)."""

    def __init__(self, status: int, title: str, detail: str, *, kind: str | None = None,
                 errors: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail
        self.kind = kind
        self.errors = errors
        self.headers = headers or {}


def service_error_problem(error: ServiceError) -> Response:
    db.session.rollback()
    return service_problem(error)


def api_error_problem(error: ApiError) -> Response:
    db.session.rollback()
    return problem(error.status, error.title, error.detail, kind=error.kind, errors=error.errors,
                   headers=error.headers)


def _field_name(location: tuple) -> str:
    return ".".join(str(part) for part in location) or "body"


def validation_problem(error: ValidationError) -> Response:
    """flask-openapi3's validation_error_callback: a bad path id is 404, any other bad field 422."""
    if error.title.endswith("Path"):
        return problem(404, "Not found", "No record with that identifier.", kind="not-found")
    errors: dict[str, str] = {}
    for item in error.errors(include_url=False):
        errors.setdefault(_field_name(item["loc"]), item["msg"])
    detail = "; ".join(f"{name}: {message}" for name, message in errors.items())
    return problem(422, "Invalid field values", detail, kind="validation", errors=errors)


def http_problem(error: HTTPException) -> Response:
    status = error.code or 500
    headers = {}
    if status == 405 and getattr(error, "valid_methods", None):
        headers["Allow"] = ", ".join(error.valid_methods)
    detail = error.description or error.name
    if status == 413:
        detail = "The request body is larger than this server accepts."
    return problem(status, error.name, detail, headers=headers)


def _api_http_problem(error: HTTPException) -> Response:
    if error.code and error.code >= 500:
        db.session.rollback()
    return http_problem(error)


def _api_server_error(error: InternalServerError) -> Response:
    db.session.rollback()
    return problem(500, "Internal server error", "The server failed to answer; the change was not saved.")


def _chain(app: Flask, code: int | None, exception: type[HTTPException], api_handler) -> None:
    chain_error_handler(app, code, exception, is_api_request, api_handler)


def init_app(app: Flask) -> None:
    """App-level handlers: routing errors (unknown path, wrong method) have no blueprint."""
    _chain(app, None, HTTPException, _api_http_problem)
    _chain(app, 500, InternalServerError, _api_server_error)
    # Whatever handler answered an /api error (another feature's HTML page, say): a problem.
    app.after_request(error_format_net(is_api_request, PROBLEM_JSON,
                                       lambda status, title, _response: problem(status, title, title + ".")))


def register(bp) -> None:
    """Handlers of the API blueprint (they win over the app's for its own routes)."""
    bp.register_error_handler(ServiceError, service_error_problem)
    bp.register_error_handler(ApiError, api_error_problem)
