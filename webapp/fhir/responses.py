"""FHIR answers: one resource (with ETag and Last-Modified, honouring If-None-Match and
If-Modified-Since) or a searchset Bundle with self and next links."""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import urlencode

from flask import Response, request

from webapp.fhir.codes import BASE_PATH, FHIR_JSON
from webapp.fhir.resources import Validated


def base_url() -> str:
    return request.url_root.rstrip("/") + BASE_PATH


def fhir_response(resource: Validated, status: int = 200) -> Response:
    response = Response(json.dumps(resource.data), status=status, mimetype=FHIR_JSON)
    response.headers["Cache-Control"] = "no-store"
    return response


def read_response(resource: Validated, version: int, last_updated: datetime) -> Response:
    response = fhir_response(resource)
    response.set_etag(str(version), weak=True)  # FHIR's ETag: W/"<versionId>"
    response.last_modified = last_updated
    return response.make_conditional(request)


def _link(relation: str, resource_type: str, args: list[tuple[str, str]]) -> dict:
    query = urlencode(args)
    return {"relation": relation, "url": f"{base_url()}/{resource_type}" + (f"?{query}" if query else "")}


def searchset(resource_type: str, entries: list[tuple[str, object]], total: int, count: int,
              next_cursor: str | None) -> Response:
    """``entries``: (resource type, validated resource) pairs; the next link repeats the search's parameters
    with ``_count`` and the next page's ``_cursor``."""
    from fhir.resources.R4B.bundle import Bundle

    args = [(name, value) for name, value in request.args.items(multi=True) if name not in ("_cursor", "_count")]
    args.append(("_count", str(count)))
    links = [{"relation": "self", "url": request.url}]
    if next_cursor:
        links.append(_link("next", resource_type, [*args, ("_cursor", next_cursor)]))
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": total, "link": links}

    def entry(kind: str, resource: Validated, body) -> dict:
        return {"fullUrl": f"{base_url()}/{kind}/{resource.id}", "resource": body, "search": {"mode": "match"}}

    # Checked with the entries' models (parsed already); sent with their JSON.
    Bundle.model_validate(bundle | ({"entry": [entry(k, r, r.model) for k, r in entries]} if entries else {}))
    if entries:
        bundle["entry"] = [entry(k, r, r.data) for k, r in entries]
    return fhir_response(Validated(None, bundle))
