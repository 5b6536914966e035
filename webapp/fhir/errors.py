"""Errors under /fhir as ``OperationOutcome`` (``application/fhir+json``), whatever raised them.

Three layers, as for the JSON API's problems (webapp/api/errors.py):

* the blueprint's own handlers: :class:`FhirError` (bad search parameters, unsupported formats),
  the API's authentication errors (401/403 from ``webapp.api.security``) and service errors
  (an unknown id, a bad cursor);
* app-level handlers chained in front of the pages' error pages, for what has no blueprint
  (an unknown path or resource type: 404; a write: 405 with ``Allow``) and for 500s;
* a safety net after every /fhir request: an error answer of another kind (a 503 while the
  database is down, say) becomes an OperationOutcome with the same status and headers.
"""

from __future__ import annotations

import json

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, InternalServerError

from webapp.api.errors import ApiError
from webapp.errors import ServiceError, chain_error_handler, error_format_net
from webapp.extensions import db
from webapp.fhir.codes import BASE_PATH, FHIR_JSON

# issue-type codes (http://hl7.org/fhir/issue-type) by HTTP status.
ISSUE_CODES = {
    400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
    406: "not-supported", 408: "timeout", 409: "conflict", 412: "conflict", 413: "too-long",
    422: "invalid", 429: "throttled", 503: "transient",
}


class FhirError(Exception):
    """An error of the FHIR layer itself: ``status``, an issue-type ``code`` and what went wrong."""

    def __init__(self, status: int, diagnostics: str, *, code: str | None = None,
                 expression: str | None = None) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.diagnostics = diagnostics
        self.code = code or ISSUE_CODES.get(status, "processing")
        self.expression = expression


def bad_parameter(name: str, message: str) -> FhirError:
    return FhirError(400, f"{name}: {message}", expression=name)


def is_fhir_request() -> bool:
    return request.path == BASE_PATH or request.path.startswith(BASE_PATH + "/") or request.path == "/fhir"


def outcome_body(status: int, diagnostics: str, *, code: str | None = None, expression: str | None = None) -> dict:
    from fhir.resources.R4B.operationoutcome import OperationOutcome

    issue = {"severity": "error" if status < 500 else "fatal",
             "code": code or ISSUE_CODES.get(status, "exception"), "diagnostics": diagnostics}
    if expression:
        issue["expression"] = [expression]
    resource = OperationOutcome.model_validate({"resourceType": "OperationOutcome", "issue": [issue]})
    return json.loads(resource.model_dump_json())


def outcome(status: int, diagnostics: str, *, code: str | None = None, expression: str | None = None,
            headers: dict[str, str] | None = None) -> Response:
    body = outcome_body(status, diagnostics, code=code, expression=expression)
    response = Response(json.dumps(body), status=status, mimetype=FHIR_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    response.headers["Cache-Control"] = "no-store"
    return response


# ---------------------------------------------------------------------------- the blueprint's handlers


def _fhir_error(error: FhirError) -> Response:
    db.session.rollback()
    return outcome(error.status, error.diagnostics, code=error.code, expression=error.expression)


def _api_error(error: ApiError) -> Response:
    """401/403 from the API's token check, told as an OperationOutcome."""
    db.session.rollback()
    return outcome(error.status, error.detail, headers=error.headers)


def _service_error(error: ServiceError) -> Response:
    """An unknown id is 404; a bad cursor (the service's 422) is a bad search parameter: 400."""
    db.session.rollback()
    status = 400 if error.status == 422 else error.status
    expression = next(iter(error.errors), None) if error.errors else None
    return outcome(status, error.detail, expression=expression)


def register(bp) -> None:
    bp.register_error_handler(FhirError, _fhir_error)
    bp.register_error_handler(ApiError, _api_error)
    bp.register_error_handler(ServiceError, _service_error)


# ---------------------------------------------------------------------------- app-level handlers


def _http_outcome(error: HTTPException) -> Response:
    status = error.code or 500
    if status >= 500:
        db.session.rollback()
    headers = {}
    if status == 405:
        headers["Allow"] = ", ".join(getattr(error, "valid_methods", None) or ("GET", "HEAD"))
        detail = f"{request.method} is not supported: this FHIR server is read-only."
    elif status == 404:
        detail = f"{request.path} is not a resource or interaction this server offers (see {BASE_PATH}/metadata)."
    else:
        detail = error.description or error.name
    return outcome(status, detail, headers=headers)


def _server_error(error: InternalServerError) -> Response:
    db.session.rollback()
    return outcome(500, "The server failed to answer.")


def _chain(app: Flask, code: int | None, exception: type[HTTPException], handler) -> None:
    chain_error_handler(app, code, exception, is_fhir_request, handler)


def _detail_of(response: Response) -> str | None:
    """The ``detail`` of a problem+json answer (the 503 of webapp.faults), else None."""
    if response.mimetype != "application/problem+json" or response.is_streamed:
        return None
    try:
        detail = json.loads(response.get_data()).get("detail")
    except (ValueError, AttributeError):
        return None
    return detail if isinstance(detail, str) else None


def init_app(app: Flask) -> None:
    _chain(app, None, HTTPException, _http_outcome)
    _chain(app, 500, InternalServerError, _server_error)
    app.after_request(error_format_net(
        is_fhir_request, FHIR_JSON,
        lambda status, title, response: outcome(status, _detail_of(response) or f"{title}.")))
