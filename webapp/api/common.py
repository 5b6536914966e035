"""What every API resource module shares: its blueprint, request checks, JSON answers."""

from __future__ import annotations

import functools
import inspect
import json
from dataclasses import dataclass

from flask import Response, current_app, request
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel

from webapp import text_guard
from webapp.api import errors, security
from webapp.api.errors import ApiError
from webapp.errors import NotFound
from webapp.extensions import db

BEARER = [{"bearerAuth": []}]
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


# Response headers the API sends, for the OpenAPI document.
HEADERS = {
    "ETag": {"description": "The order's version as an entity tag: send it back in If-Match to change the order.",
             "schema": {"type": "string", "pattern": '^"[0-9]+"$'}, "example": '"2"'},
    "Location": {"description": "Where the new record is.", "schema": {"type": "string"}},
    "Idempotent-Replayed": {"description": "Present (true) when this answer repeats the one given to an earlier "
                                           "request with the same Idempotency-Key: nothing new was created.",
                            "schema": {"type": "string", "enum": ["true"]}},
    "Retry-After": {"description": "Seconds to wait before trying again.",
                    "schema": {"type": "string", "pattern": "^[0-9]+$"}, "example": "15"},
}


def _headers(names: dict[str, bool]) -> dict:
    return {name: HEADERS[name] | {"required": required} for name, required in names.items()}


def _problem_response(description: str, headers: dict[str, bool] | None = None) -> dict:
    response = {
        "description": description,
        "content": {errors.PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if headers:
        response["headers"] = _headers(headers)
    return response


def answer(schema: str, description: str, *, headers: dict[str, bool] | None = None, example=None) -> dict:
    """A documented JSON answer of the component ``schema`` (a response model used elsewhere too, so
    it is in the document), with the headers it carries (name -> always sent) and an example."""
    media: dict = {"schema": {"$ref": f"#/components/schemas/{schema}"}}
    if example is not None:
        media["example"] = example
    response = {"description": description, "content": {"application/json": media}}
    if headers:
        response["headers"] = _headers(headers)
    return response


PROBLEMS = {
    400: _problem_response("Malformed request (not JSON, no body)"),
    401: _problem_response("Not signed in"),
    403: _problem_response("Your role may not do this (or the CSRF header is missing)"),
    404: _problem_response("Unknown id"),
    409: _problem_response("Status change not allowed, or a duplicate"),
    412: _problem_response("Stale If-Match: someone else changed the record"),
    413: _problem_response("Request body too large"),
    422: _problem_response("Invalid field values (see errors)"),
    428: _problem_response("If-Match missing: send the ETag you read (or * to overwrite whatever is there now)"),
    429: _problem_response("Too many failed sign-in attempts: wait for Retry-After seconds", {"Retry-After": True}),
    503: _problem_response("The database cannot be reached; nothing was changed. Try again after Retry-After seconds",
                           {"Retry-After": True}),
}


# A request line over gunicorn's limit_request_line (4094 bytes: a query string that long) is
# refused by gunicorn itself, before the app, as an HTML page: declared so for every operation.
URI_TOO_LONG = {414: {"description": "Request line over 4094 bytes (gunicorn's limit_request_line): refused "
                                     "before the app, as gunicorn's HTML page. Send fewer or shorter query parameters.",
                      "content": {"text/html": {"schema": {"type": "string"}}}}}


def problems(*statuses: int) -> dict:
    return {status: PROBLEMS[status] for status in statuses}


def resource_blueprint(name: str, import_name: str, url_prefix: str, tag: str, *, public: bool = False) -> APIBlueprint:
    """The blueprint of one resource under /api/v1, documented with its tag and bearer security."""
    bp = APIBlueprint(
        f"api_{name}",
        import_name,
        url_prefix=url_prefix,
        abp_tags=[Tag(name=tag)],
        abp_security=[] if public else BEARER,
        abp_responses=(problems(400, 413, 422, 503) if public else problems(400, 401, 403, 413, 422, 503)) | URI_TOO_LONG,
    )
    bp.before_request(before_api_request)
    bp.after_request(_no_store)
    errors.register(bp)
    return bp


def _no_store(response: Response) -> Response:
    # Answers carry patient data and tokens: kept in no shared or browser cache.
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _refuse(found: tuple[str, str] | None) -> None:
    """422 naming the field with a character no field accepts (``webapp.text_guard``)."""
    if found:
        field, message = found
        raise ApiError(422, "Invalid field values", f"{field}: {message}", kind="validation",
                       errors={field: message})


def no_body_needed(view):
    """Mark an API view whose request may come without a body (and so without a Content-Type)."""
    view.no_body_needed = True
    return view


@functools.cache
def _takes_body(view) -> bool:
    """Whether the API view reads a JSON body (a ``body`` parameter of flask-openapi3)."""
    try:
        return "body" in inspect.signature(view).parameters
    except (TypeError, ValueError):
        return True


def before_api_request() -> None:
    """Size limit, then who is calling, then a parseable JSON body (before Pydantic looks at it)."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit and request.content_length and request.content_length > limit:
        raise ApiError(413, "Request body too large", f"At most {limit} bytes.", kind="too-large")
    if "\x00" in request.path:
        raise ApiError(404, "Not found", "No record with that identifier.", kind="not-found")
    view = current_app.view_functions.get(request.endpoint)
    security.authenticate(view)
    _refuse(next((found for name, value in request.args.items(multi=True)
                  if (found := text_guard.first_problem({name: value}))), None))
    if request.method in BODY_METHODS and (
            getattr(view, "no_body_needed", False) or getattr(view, security.NO_BODY_ATTRIBUTE, False)
    ) and not request.get_data(cache=True):
        # An action without a body (claim, co-sign) needs no Content-Type: it reads as {}.
        request.environ["CONTENT_TYPE"] = "application/json"
        request._cached_data = b"{}"
        return
    # A POST action that takes no body (acknowledge) needs no Content-Type; one that takes a body
    # must be sent JSON.
    if request.method in BODY_METHODS and (_takes_body(view) or request.content_length or request.is_json
                                           or request.data):
        if not request.is_json:
            raise ApiError(400, "Malformed request", "Send a JSON body with 'Content-Type: application/json'.",
                           kind="malformed")
        try:
            body = json.loads(request.get_data(cache=True))
            found = text_guard.first_problem(body)
        except (ValueError, RecursionError):
            raise ApiError(400, "Malformed request", "The body is not valid JSON (or nests too deeply).",
                           kind="malformed") from None
        _refuse(found)


# ---------------------------------------------------------------------------- answers


def json_response(model: BaseModel, status: int = 200, headers: dict | None = None) -> Response:
    response = Response(model.model_dump_json(), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def get_or_404(model, key):
    """The ``model`` row with this id (a Patient, a Visit), or NotFound naming what was looked for."""
    record = db.session.get(model, key)
    if record is None:
        raise NotFound(f"No {model.__name__.lower()} with id {key}.")
    return record


@dataclass(frozen=True)
class Records:
    """The rows of one table as a resource answers with them: found by id, shown as ``out``."""

    model: type
    out: type[BaseModel]
    example: dict

    def get(self, key):
        return get_or_404(self.model, key)

    def answer(self, record, status: int = 200, headers: dict | None = None) -> Response:
        return json_response(self.out.model_validate(record), status, headers)

    @property
    def created(self) -> dict:
        """The documented answers of the POST that creates one (idempotency.create_once)."""
        name = self.out.__name__
        return {
            201: answer(name, "Registered", headers={"Location": True}, example=self.example),
            200: answer(name, "What an earlier request with this Idempotency-Key created (nothing new)",
                        headers={"Idempotent-Replayed": True}, example=self.example),
        }

    @property
    def one(self) -> dict:
        """The documented answer of the GET of one."""
        return {200: answer(self.out.__name__, "The record", example=self.example)}


def etag_for(version: int) -> str:
    return f'"{version}"'


def expected_version() -> int | None:
    """The version the client's If-Match names: None without one (or with *), 0 when unreadable."""
    if_match = request.if_match
    if not if_match or if_match.star_tag:
        return None
    for tag in if_match.as_set():
        if tag.isdigit() and len(tag) < 10:
            return int(tag)
    return 0  # names no version there is: the service answers 412

