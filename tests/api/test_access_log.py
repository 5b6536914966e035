"""The API logs every read of patient data: one access row per request, naming exactly the
patients it returned (lists, searches and cursor pages as well as single records)."""

from __future__ import annotations

import uuid

import pytest

from tests.access_log import clinic, last_id, reads


@pytest.fixture
def town(make_patient, make_visit, make_order):
    return clinic(make_patient, make_visit, make_order)


def _get(client, path, headers):
    response = client.get(path, headers=headers)
    assert response.status_code == 200, (path, response.json)
    return response.json


def test_order_search_by_mrn_names_the_patient_and_keeps_the_search(app, client, bearer, town):
    headers = bearer("scheduler")
    before = last_id(app)
    body = _get(client, f"/api/v1/imaging/orders?q={town.anna.mrn}", headers)
    assert {o["patient_id"] for o in body["items"]} == {str(town.anna.id)}
    assert len(body["items"]) == 2 and body["items"][0]["clinical_indication"]
    [row] = reads(app, before)
    assert (row.user_id, row.user_role, row.what) == (bearer.user.id, "scheduler", "order list")
    assert row.patients == {town.anna.id}  # one row for two orders, naming the patient once
    assert row.search == town.anna.mrn
    assert row.request_path == f"GET /api/v1/imaging/orders?q={town.anna.mrn}"


def test_a_search_returning_two_patients_orders_names_both_in_one_row(app, client, bearer, town):
    headers = bearer("technician")
    before = last_id(app)
    body = _get(client, "/api/v1/imaging/orders?q=Lindqvist", headers)
    assert len(body["items"]) == 3
    [row] = reads(app, before)
    assert row.user_id == bearer.user.id
    assert row.patients == {town.anna.id, town.bertil.id}
    assert row.search == "Lindqvist"


def test_each_cursor_page_is_logged_with_its_own_patients(app, client, bearer, town):
    headers = bearer("radiologist")
    before = last_id(app)
    path, pages = "/api/v1/imaging/orders?limit=1", []
    while path:
        body = _get(client, path, headers)
        pages.append({o["patient_id"] for o in body["items"]})
        path = body["next_cursor"] and f"/api/v1/imaging/orders?limit=1&cursor={body['next_cursor']}"
    rows = reads(app, before)
    assert len(pages) == len(rows) == 4
    assert [{str(p) for p in r.patients} for r in rows] == pages
    assert all(r.user_id == bearer.user.id for r in rows)
    assert "cursor=" in rows[1].request_path and "cursor=" not in rows[0].request_path


def test_search_pages_with_a_cursor_log_each_page(app, client, bearer, town):
    headers = bearer("doctor")
    before = last_id(app)
    first = _get(client, "/api/v1/imaging/orders?q=Lindqvist&limit=2", headers)
    second = _get(client, f"/api/v1/imaging/orders?q=Lindqvist&limit=2&cursor={first['next_cursor']}", headers)
    assert second["next_cursor"] is None
    rows = reads(app, before)
    assert [r.patients for r in rows] == [
        frozenset(uuid.UUID(o["patient_id"]) for o in page["items"]) for page in (first, second)
    ]
    assert [r.search for r in rows] == ["Lindqvist", "Lindqvist"]


def test_reads_of_one_patient_visit_or_order_are_logged(app, client, bearer, town):
    headers = bearer("doctor")
    order = town.orders[town.bertil.id][0]
    visit = town.visits[town.bertil.id]
    before = last_id(app)
    for path in (f"/api/v1/imaging/orders/patient/{town.bertil.id}", f"/api/v1/imaging/orders/visit/{visit.id}",
                 f"/api/v1/imaging/orders/accession/{order.accession_number}", f"/api/v1/imaging/orders/{order.id}"):
        _get(client, path, headers)
    rows = reads(app, before)
    assert [r.patients for r in rows] == [{town.bertil.id}] * 4
    assert [r.what for r in rows] == [
        "imaging history", f"orders of the visit of {visit.visit_date:%Y-%m-%d}",
        f"order {order.accession_number}", f"order {order.accession_number}",
    ]
    assert {r.user_id for r in rows} == {bearer.user.id}


def test_patient_and_visit_reads_are_logged(app, client, bearer, town):
    headers = bearer("scheduler")
    before = last_id(app)
    found = _get(client, "/api/v1/patients?q=lindqvist", headers)
    assert {p["id"] for p in found["items"]} == {str(town.anna.id), str(town.bertil.id)}
    first = _get(client, "/api/v1/patients?limit=2", headers)
    _get(client, f"/api/v1/patients?limit=2&cursor={first['next_cursor']}", headers)
    _get(client, f"/api/v1/patients/{town.okafor.id}", headers)
    _get(client, f"/api/v1/visits?patient_id={town.anna.id}", headers)
    _get(client, "/api/v1/visits", headers)
    _get(client, f"/api/v1/visits/{town.visits[town.bertil.id].id}", headers)
    rows = reads(app, before)
    everyone = {town.anna.id, town.bertil.id, town.okafor.id}
    first_page = {uuid.UUID(p["id"]) for p in first["items"]}
    assert [r.patients for r in rows] == [
        {town.anna.id, town.bertil.id}, first_page, everyone - first_page, {town.okafor.id},
        {town.anna.id}, everyone, {town.bertil.id},
    ]
    assert rows[0].search == "lindqvist"
    assert {r.user_id for r in rows} == {bearer.user.id}


def test_a_search_that_finds_nobody_is_logged_an_empty_list_is_not(app, client, bearer, town):
    headers = bearer("doctor")
    before = last_id(app)
    assert _get(client, "/api/v1/imaging/orders?q=MRN-NOBODY", headers)["items"] == []
    assert _get(client, "/api/v1/patients?q=Nobody", headers)["items"] == []
    assert _get(client, "/api/v1/imaging/orders?status=cancelled", headers)["items"] == []
    rows = reads(app, before)
    assert [(r.search, r.patients) for r in rows] == [("MRN-NOBODY", frozenset()), ("Nobody", frozenset())]


def test_refused_and_failed_reads_write_no_row(app, client, bearer, town):
    headers = bearer("doctor")
    before = last_id(app)
    assert client.get("/api/v1/imaging/orders?cursor=not-a-cursor&q=Lindqvist", headers=headers).status_code == 422
    assert client.get(f"/api/v1/imaging/orders/patient/{town.visits[town.anna.id].id}", headers=headers).status_code == 404
    assert client.get("/api/v1/imaging/orders?q=Lindqvist").status_code == 401
    assert reads(app, before) == []


def test_a_read_is_one_cheap_statement_on_postgresql(app, client, bearer, town):
    """However many orders and patients: one INSERT on PostgreSQL; on SQLite (in-process) the
    access row and one executemany of its patients."""
    from sqlalchemy import event

    from webapp.extensions import db

    headers = bearer("doctor")
    inserts: list[str] = []
    with app.app_context():
        engine = db.engine
        dialect = engine.dialect.name

    def count(_conn, _cursor, statement, _params, _context, _executemany):
        if statement.lstrip().upper().startswith(("INSERT", "WITH")):
            inserts.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        _get(client, "/api/v1/imaging/orders", headers)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(inserts) == (1 if dialect == "postgresql" else 2), inserts
    [row] = reads(app, last_id(app) - 1)
    assert row.patients == {town.anna.id, town.bertil.id, town.okafor.id}


def test_nothing_is_shown_when_the_row_cannot_be_written(app, client, bearer, town, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from webapp.audit import access

    headers = bearer("doctor")

    def database_gone(*_args):
        raise OperationalError("INSERT INTO patient_access_log", {}, Exception("server closed the connection"))

    monkeypatch.setattr(access, "_insert", database_gone)
    response = client.get("/api/v1/imaging/orders?q=Lindqvist", headers=headers)
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert "Lindqvist" not in response.get_data(as_text=True)
    assert "Suspected pneumonia" not in response.get_data(as_text=True)
