"""Pages log every read of patient data: one access row per request naming exactly the patients
on the page (lists, searches, their htmx fragments, the worklist, the dashboard's queues)."""

from __future__ import annotations

import pytest

from tests.access_log import clinic, last_id, reads
from tests.pages.conftest import hx


@pytest.fixture
def town(make_patient, make_visit, make_order):
    return clinic(make_patient, make_visit, make_order)


def _page(client, path, headers=None):
    response = client.get(path, headers=headers or {})
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def test_order_list_search_and_its_fragments_name_the_patients_shown(app, client, auth, town):
    user = auth.login("scheduler")
    before = last_id(app)
    html = _page(client, "/imaging/orders?q=Lindqvist")
    assert "Okafor" not in html and "Bertil" in html
    _page(client, f"/imaging/orders?q={town.okafor.mrn}", hx("order-results"))
    _page(client, "/imaging/orders?modality=XRAY", hx("order-results"))
    rows = reads(app, before)
    everyone = {town.anna.id, town.bertil.id, town.okafor.id}
    assert [(r.user_id, r.what) for r in rows] == [(user.id, "order list")] * 3
    assert [r.patients for r in rows] == [{town.anna.id, town.bertil.id}, {town.okafor.id}, everyone]
    assert [r.search for r in rows] == ["Lindqvist", town.okafor.mrn, None]
    assert rows[1].request_path == f"GET /imaging/orders?q={town.okafor.mrn}"


def test_patient_search_and_patient_pages_are_logged(app, client, auth, town):
    user = auth.login("doctor")
    visit = town.visits[town.okafor.id]
    before = last_id(app)
    _page(client, "/patients?q=lindq")
    _page(client, "/patients?q=lindq", hx("patient-results"))
    _page(client, f"/patients/{town.okafor.id}")
    _page(client, f"/patients/{town.anna.id}?tab=imaging", hx("patient-tab-region"))
    _page(client, f"/visits/{visit.id}")
    _page(client, "/patients?q=Nobody-By-That-Name")
    rows = reads(app, before)
    lindqvists = {town.anna.id, town.bertil.id}
    assert [(r.what, r.patients) for r in rows] == [
        ("patient search", lindqvists), ("patient search", lindqvists),
        ("patient overview", {town.okafor.id}), ("imaging history", {town.anna.id}),
        (f"orders of the visit of {visit.visit_date:%Y-%m-%d}", {town.okafor.id}),
        ("patient search", frozenset()),  # a search that found nobody is kept
    ]
    assert {r.user_id for r in rows} == {user.id}
    assert rows[-1].search == "Nobody-By-That-Name"


def test_dashboard_queues_are_logged_its_counts_and_the_wall_are_not(app, client, auth, town, make_order, make_visit):
    stat = make_order(visit=make_visit(patient=town.okafor), priority="stat")
    user = auth.login("radiologist")
    before = last_id(app)
    _page(client, "/dashboard")
    _page(client, "/dashboard", hx("dashboard-priority"))
    _page(client, "/dashboard", hx("dashboard-today"))
    _page(client, "/dashboard", hx("dashboard-counts"))
    html = _page(client, "/dashboard/wall")
    assert stat.accession_number in html and "Okafor" not in html  # the wall names no patient
    rows = reads(app, before)
    everyone = {town.anna.id, town.bertil.id, town.okafor.id}
    assert [(r.user_id, r.what, r.patients) for r in rows] == [
        (user.id, "dashboard", everyone), (user.id, "dashboard", {stat.patient_id}), (user.id, "dashboard", everyone),
    ]


def test_worklist_and_its_htmx_answer_to_a_tap_are_logged(app, client, auth, make_patient, make_visit, make_order):
    town = clinic(make_patient, make_visit, make_order, status="in_progress", modality="CT", body_part="HEAD",
                  procedure_code=None)
    user = auth.login("technician")
    before = last_id(app)
    _page(client, "/imaging/worklist")
    order = town.orders[town.bertil.id][0]
    response = client.post(f"/imaging/worklist/{order.id}/complete", headers=hx("worklist"),
                           data={"version": order.version, "number_of_images": "3"})
    assert response.status_code == 200
    rows = reads(app, before)  # the POST's row is committed with the request, after its own commit
    assert [(r.user_id, r.what) for r in rows] == [(user.id, "worklist")] * 2
    assert rows[0].patients == {town.anna.id, town.bertil.id, town.okafor.id}
    # Bertil's scan is done: off the list, into "done today" (issue 25), so read all the same.
    assert rows[1].patients == {town.anna.id, town.bertil.id, town.okafor.id}
    assert rows[1].request_path.startswith("POST /imaging/worklist/")


def test_order_pages_log_one_row_per_request(app, client, auth, town):
    user = auth.login("doctor")
    order = town.orders[town.anna.id][0]
    visit = town.visits[town.anna.id]
    before = last_id(app)
    _page(client, f"/imaging/orders/{order.id}")
    _page(client, f"/imaging/orders/{order.id}/edit", hx("dialog"))
    _page(client, f"/imaging/orders/new?visit_id={visit.id}")
    _page(client, f"/imaging/orders/new?visit_id={visit.id}&modality=CT", hx("order-choices"))  # no patient data
    response = client.post(f"/imaging/orders/{order.id}/actions/note", headers=hx(),
                           data={"note-note": "Called the ward.", "note-version": order.version})
    assert response.status_code == 200
    rows = reads(app, before)
    acc = f"order {order.accession_number}"
    assert [(r.what, r.patients) for r in rows] == [
        (acc, {town.anna.id}), (acc, {town.anna.id}),
        (f"order form for the visit of {visit.visit_date:%Y-%m-%d}", {town.anna.id}), (acc, {town.anna.id}),
    ]
    assert {r.user_id for r in rows} == {user.id}
