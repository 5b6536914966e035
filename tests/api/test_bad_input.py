"""Bad input never gets a 5xx, on either database; every operation needs a signed-in user."""

from __future__ import annotations

import uuid

import pytest

from tests.api.operations import EXPECTED_OPERATIONS

ORDERS = "/api/v1/imaging/orders"


def test_nul_characters_are_refused_not_crashed_on(client, bearer, order_payload, make_order):
    """PostgreSQL cannot store NUL in text: the API refuses it before the database sees it."""
    headers = bearer("doctor")
    order = make_order("ordered", doctor=bearer.user)
    calls = [
        client.post(ORDERS, json=order_payload(clinical_indication="bad\x00text"), headers=headers),
        client.put(f"{ORDERS}/{order.id}", json={"clinical_history": "\x00"}, headers=headers),
        client.post("/api/v1/patients", json={"mrn": "M1", "first_name": "A\x00", "last_name": "B",
                                              "date_of_birth": "1990-01-01", "sex": "male"}, headers=headers),
        client.post("/api/v1/visits", json={"patient_id": str(order.patient_id), "reason": "x",
                                            "diagnoses": [{"code": "A\x00", "description": "d"}]}, headers=headers),
        client.post("/api/v1/auth/token", json={"username": "doc\x00", "password": "x"}),
    ]
    for response in calls:
        assert response.status_code == 422, response.get_data(as_text=True)
        assert response.mimetype == "application/problem+json"
    assert calls[0].json["errors"] == {"clinical_indication": "Must not contain NUL characters."}
    assert calls[3].json["errors"] == {"diagnoses.0.code": "Must not contain NUL characters."}
    for path, query in ((ORDERS, {"q": "Garcia\x00"}), ("/api/v1/patients", {"q": "\x00"}),
                        (ORDERS, {"modality": "CT\x00"})):
        response = client.get(path, query_string=query, headers=headers)
        assert response.status_code == 422 and response.mimetype == "application/problem+json"
    response = client.get(f"{ORDERS}/accession/ACC%00", headers=headers)
    assert response.status_code == 404 and response.mimetype == "application/problem+json"
    assert client.get(f"{ORDERS}/{order.id}", headers=headers).json["version"] == 1
    # Parseable but not an order (422), and too deep to parse (400).
    for depth, expected in ((900, 422), (5000, 400)):
        deep = client.post(ORDERS, data="[" * depth + "]" * depth, content_type="application/json", headers=headers)
        assert deep.status_code == expected, (depth, deep.status_code)
        assert deep.mimetype == "application/problem+json"


@pytest.mark.sqlite_only
@pytest.mark.parametrize("operation", sorted(EXPECTED_OPERATIONS - {"POST /api/v1/auth/token"}))
def test_every_operation_needs_a_signed_in_user(client, operation):
    method, path = operation.split(" ", 1)
    path = path.replace("{accession_number}", "ACC-2026-00001")
    path = path.replace("/unmatched/{id}", "/unmatched/1")  # held PACS studies are numbered
    path = path.replace("/critical-results/{id}", "/critical-results/1")  # so are critical results
    path = path.replace("/downtime/{id}", "/downtime/1")  # and downtimes
    for name in ("{id}", "{patient_id}", "{visit_id}"):
        path = path.replace(name, str(uuid.uuid4()))
    body = {} if method in ("POST", "PUT", "PATCH", "DELETE") else None
    response = client.open(path, method=method, json=body)
    assert response.status_code == 401 and response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.sqlite_only
def test_dates_out_of_range_are_422(client, bearer, make_order, make_patient):
    headers = bearer("scheduler")
    order = make_order("ordered")
    for query in ({"date_to": "9999-12-31"}, {"date_from": "0001-01-01"}):
        response = client.get(ORDERS, query_string=query, headers=headers)
        assert response.status_code == 422 and list(response.json["errors"]) == list(query)
    for moment in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00", "2500-01-01T00:00:00Z"):
        response = client.patch(f"{ORDERS}/{order.id}/status", json={"status": "scheduled", "scheduled_date": moment},
                                headers=headers)
        assert response.status_code == 422 and "scheduled_date" in response.json["errors"]
        response = client.post("/api/v1/visits", json={"patient_id": str(make_patient().id), "reason": "x",
                                                       "visit_date": moment}, headers=bearer("doctor"))
        assert response.status_code == 422 and "visit_date" in response.json["errors"]


def test_crafted_cursors_are_422(client, bearer, make_order):
    """A cursor is the client's to send back: year 0 in UTC, an integer key, a year past 9999."""
    from tests.pages.test_crafted_input import CRAFTED_CURSORS

    headers = bearer("doctor")
    make_order("ordered")
    for path in (ORDERS, "/api/v1/patients", "/api/v1/visits"):
        for crafted in CRAFTED_CURSORS:
            response = client.get(path, query_string={"cursor": crafted}, headers=headers)
            assert response.status_code == 422, (path, crafted, response.get_data(as_text=True))
            assert response.mimetype == "application/problem+json"
            assert response.json["errors"] == {"cursor": "Not a cursor this server gave out."}
    for query in ({"date_from": "9999-12-31"}, {"date_to": "9999-12-31"}):
        response = client.get(ORDERS, query_string=query, headers=headers)
        assert response.status_code == 422 and list(response.json["errors"]) == list(query)
