"""The OpenAPI document says what the API sends: headers, examples, 428 and 503; PUT needs If-Match."""

from __future__ import annotations

import pytest

from webapp.api import schemas, tokens

ORDERS = "/api/v1/imaging/orders"
ONE_ORDER = f"{ORDERS}/{{id}}"


@pytest.fixture
def document(client):
    return client.get("/api/v1/openapi.json").json


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


@pytest.mark.sqlite_only
def test_every_operation_declares_503_with_retry_after(document):
    for name, operation in _operations(document):
        unavailable = operation["responses"].get("503")
        assert unavailable, name
        assert "application/problem+json" in unavailable["content"], name
        assert unavailable["headers"]["Retry-After"]["required"] is True, name
    throttled = document["paths"]["/api/v1/auth/token"]["post"]["responses"]["429"]
    assert throttled["headers"]["Retry-After"]["required"] is True


@pytest.mark.sqlite_only
def test_every_operation_declares_gunicorns_414(document):
    """schemathesis met an undeclared 414 (issue 26, item 9): a query string past gunicorn's
    limit_request_line is refused by gunicorn, as HTML, before the app sees it."""
    for name, operation in _operations(document):
        too_long = operation["responses"].get("414")
        assert too_long and "text/html" in too_long["content"], name
        assert "4094" in too_long["description"], name


@pytest.mark.sqlite_only
def test_order_answers_declare_etag_and_replays_declare_idempotent_replayed(document):
    paths = document["paths"]
    for method, path in (("get", ONE_ORDER), ("put", ONE_ORDER), ("delete", ONE_ORDER),
                         ("patch", f"{ONE_ORDER}/status"), ("get", f"{ORDERS}/accession/{{accession_number}}"),
                         ("post", ORDERS)):
        ok = paths[path][method]["responses"]["201" if method == "post" else "200"]
        assert ok["headers"]["ETag"]["required"] is True, (method, path)
        assert ok["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/OrderOut"}
        assert ok["content"]["application/json"]["example"]["accession_number"].startswith("ACC-")
    for path in (ORDERS, "/api/v1/patients", "/api/v1/visits"):
        responses = paths[path]["post"]["responses"]
        assert responses["200"]["headers"]["Idempotent-Replayed"]["schema"] == {"type": "string", "enum": ["true"]}
        assert responses["201"]["headers"]["Location"]["required"] is True
    assert "428" in paths[ONE_ORDER]["put"]["responses"]
    assert "428" not in paths[f"{ONE_ORDER}/status"]["patch"]["responses"]
    for reference in ("OrderOut", "OrderList", "PatientOut", "VisitOut", "Problem"):
        assert reference in document["components"]["schemas"]


@pytest.mark.sqlite_only
def test_request_and_answer_examples_are_valid(document):
    paths = document["paths"]
    bodies = {
        ("post", ORDERS): schemas.OrderCreate, ("put", ONE_ORDER): schemas.OrderUpdate,
        ("delete", ONE_ORDER): schemas.CancelRequest, ("post", "/api/v1/auth/token"): tokens.TokenRequest,
        ("post", "/api/v1/patients"): schemas.PatientIn, ("post", "/api/v1/visits"): schemas.VisitIn,
    }
    for (method, path), model in bodies.items():
        media = paths[path][method]["requestBody"]["content"]["application/json"]
        model.model_validate(media["example"])
    changes = paths[f"{ONE_ORDER}/status"]["patch"]["requestBody"]["content"]["application/json"]["examples"]
    assert set(changes) == {"schedule", "start", "complete", "report", "cancel"}
    for example in changes.values():
        schemas.StatusChange.model_validate(example["value"])
    schemas.OrderOut.model_validate(paths[ONE_ORDER]["get"]["responses"]["200"]["content"]["application/json"]["example"])
    schemas.OrderList.model_validate(document["components"]["schemas"]["OrderList"].get("example")
                                     or paths[ORDERS]["get"]["responses"]["200"]["content"]["application/json"]["example"])
    schemas.PatientOut.model_validate(
        paths["/api/v1/patients/{id}"]["get"]["responses"]["200"]["content"]["application/json"]["example"])
    schemas.VisitOut.model_validate(
        paths["/api/v1/visits/{id}"]["get"]["responses"]["200"]["content"]["application/json"]["example"])
    token = paths["/api/v1/auth/token"]["post"]["responses"]["200"]["content"]["application/json"]["example"]
    tokens.TokenResponse.model_validate(token)


def test_put_needs_if_match_and_patch_does_not(client, bearer, make_order):
    doctor = bearer("doctor")
    order = make_order("ordered")
    url = f"{ORDERS}/{order.id}"
    refused = client.put(url, json={"priority": "stat"}, headers=doctor)
    assert refused.status_code == 428 and refused.mimetype == "application/problem+json"
    assert refused.json["type"] == "urn:imaging-orders:problem:precondition-required"
    assert "If-Match" in refused.json["detail"]
    assert client.get(url, headers=doctor).json["priority"] == "routine"  # nothing changed
    edited = client.put(url, json={"priority": "stat"}, headers=doctor | {"If-Match": '"1"'})
    assert edited.status_code == 200 and edited.headers["ETag"] == '"2"'
    # PATCH .../status keeps If-Match optional (it is honoured when sent).
    scheduled = client.patch(f"{url}/status", json={"status": "scheduled", "scheduled_date": "2030-01-02T09:00:00Z",
                                                    "reason": "Booked far ahead on purpose"},  # a late STAT: issue 25
                             headers=bearer("scheduler"))
    assert scheduled.status_code == 200 and scheduled.json["version"] == 3
