"""Everything under /fhir that goes wrong is an OperationOutcome (application/fhir+json) with the
right status: no token, a bad token, the wrong role, an unknown id or path, a write, a bad
search parameter, a format other than JSON, the database down."""

from __future__ import annotations

import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome

from tests.fhir.conftest import parsed

pytestmark = pytest.mark.sqlite_only


def _outcome(response, status: int, code: str) -> OperationOutcome:
    assert response.status_code == status, (response.status_code, response.data[:300])
    resource = parsed(response)
    assert isinstance(resource, OperationOutcome)
    [issue] = resource.issue
    assert (issue.severity, issue.code) == ("error" if status < 500 else "fatal", code)
    assert issue.diagnostics
    assert response.headers["Cache-Control"] == "no-store"
    return resource


def test_no_token_or_a_bad_one_is_401(client, make_order):
    order = make_order()
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic eDp5"}):
        response = client.get(f"/fhir/R4/ServiceRequest/{order.id}", headers=headers)
        _outcome(response, 401, "login")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    _outcome(client.get("/fhir/R4/ServiceRequest?identifier=ACC-2024-00001"), 401, "login")
    _outcome(client.get("/fhir/R4/ImagingStudy?patient=x"), 401, "login")


def test_the_wall_display_role_is_refused(client, bearer, make_order):
    order = make_order("reported")
    headers = bearer("display")
    for path in (f"/fhir/R4/ServiceRequest/{order.id}", f"/fhir/R4/Patient/{order.patient_id}",
                 f"/fhir/R4/Encounter/{order.visit_id}", f"/fhir/R4/DiagnosticReport/{order.id}",
                 "/fhir/R4/ServiceRequest", f"/fhir/R4/DiagnosticReport?patient={order.patient_id}",
                 f"/fhir/R4/ImagingStudy?patient={order.patient_id}"):
        outcome = _outcome(client.get(path, headers=headers), 403, "forbidden")
        assert "display" in outcome.issue[0].diagnostics


@pytest.mark.parametrize("role", ["doctor", "scheduler", "technician", "radiologist", "admin"])
def test_every_staff_role_may_read(client, bearer, make_order, role):
    order = make_order()
    assert client.get(f"/fhir/R4/ServiceRequest/{order.id}", headers=bearer(role)).status_code == 200


def test_unknown_ids_and_paths_are_404(client, bearer, make_order):
    headers = bearer()
    for path in ("/fhir/R4/ServiceRequest/00000000-0000-0000-0000-000000000000", "/fhir/R4/ServiceRequest/abc",
                 "/fhir/R4/Patient/00000000-0000-0000-0000-000000000000", "/fhir/R4/Encounter/nope",
                 "/fhir/R4/DiagnosticReport/00000000-0000-0000-0000-000000000000"):
        _outcome(client.get(path, headers=headers), 404, "not-found")
    for path in ("/fhir/R4/Observation", "/fhir/R4/Observation/1", "/fhir/R4", "/fhir/R4/ServiceRequest/1/_history"):
        _outcome(client.get(path, headers=headers), 404, "not-found")


def test_writes_are_405_with_allow(client, bearer, make_order):
    order = make_order()
    headers = bearer()
    body = {"resourceType": "ServiceRequest", "status": "active", "intent": "order"}
    writes = (("POST", "/fhir/R4/ServiceRequest"), ("PUT", f"/fhir/R4/ServiceRequest/{order.id}"),
              ("DELETE", f"/fhir/R4/ServiceRequest/{order.id}"), ("PATCH", f"/fhir/R4/Patient/{order.patient_id}"),
              ("POST", "/fhir/R4/metadata"))
    for method, path in writes:
        response = client.open(path, method=method, json=body, headers=headers | {"Content-Type": "application/fhir+json"})
        _outcome(response, 405, "not-supported")
        assert "GET" in response.headers["Allow"] and "POST" not in response.headers["Allow"]
    # Without a token too: nothing is written either way.
    _outcome(client.post("/fhir/R4/ServiceRequest", json=body), 405, "not-supported")


@pytest.mark.parametrize(("query", "expression"), [
    ("foo=bar", "foo"),
    ("identifier:exact=ACC-2024-00001", "identifier:exact"),
    ("_sort=-_lastUpdated", "_sort"),
    ("_count=abc", "_count"),
    ("_count=201", "_count"),
    ("_count=5&_count=6", "_count"),
    ("_cursor=garbage", "_cursor"),
    ("status=bogus", "status"),
    ("status=active,", "status"),
    ("_lastUpdated=yesterday", "_lastUpdated"),
    ("_lastUpdated=ne2024-01-01", "_lastUpdated"),
    ("_lastUpdated=2024-13-01", "_lastUpdated"),
    ("_lastUpdated=0001-01-01", "_lastUpdated"),
    ("patient=Group/123", "patient"),
    ("identifier=urn:x|", "identifier"),
])
def test_bad_search_parameters_are_400(client, bearer, query, expression):
    response = client.get(f"/fhir/R4/ServiceRequest?{query}", headers=bearer())
    assert response.status_code == 400
    outcome = parsed(response)
    assert outcome.issue[0].code in ("invalid", "not-supported")
    assert outcome.issue[0].expression == [expression]


def test_other_bad_searches(client, bearer):
    headers = bearer()
    _outcome(client.get("/fhir/R4/DiagnosticReport?based-on=Patient/1", headers=headers), 400, "invalid")
    _outcome(client.get("/fhir/R4/DiagnosticReport?status=final", headers=headers), 400, "not-supported")
    _outcome(client.get("/fhir/R4/ImagingStudy", headers=headers), 400, "invalid")
    _outcome(client.get("/fhir/R4/ImagingStudy?basedon=Patient/1", headers=headers), 400, "invalid")
    _outcome(client.get("/fhir/R4/ServiceRequest?identifier=%00", headers=headers), 400, "invalid")


def test_only_json_is_served(client, bearer, make_order):
    order = make_order()
    headers = bearer()
    path = f"/fhir/R4/ServiceRequest/{order.id}"
    _outcome(client.get(path, headers=headers | {"Accept": "application/fhir+xml"}), 406, "not-supported")
    _outcome(client.get(path + "?_format=xml", headers=headers), 406, "not-supported")
    for accept in ("application/fhir+json", "application/json", "*/*", "application/fhir+xml;q=0.9, */*;q=0.1"):
        response = client.get(path + "?_format=json", headers=headers | {"Accept": accept})
        assert (response.status_code, response.mimetype) == (200, "application/fhir+json")


def test_the_database_down_is_a_503_outcome(app, client, bearer, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from webapp.fhir import views

    headers = bearer()

    def down(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(views.search, "run", down)
    response = client.get("/fhir/R4/ServiceRequest", headers=headers)
    _outcome(response, 503, "transient")
    assert response.headers["Retry-After"]


def test_the_api_and_pages_keep_their_own_errors(client, bearer):
    response = client.get("/api/v1/imaging/orders/abc", headers=bearer())
    assert (response.status_code, response.mimetype) == (404, "application/problem+json")
    assert client.get("/no-such-page").mimetype == "text/html"
