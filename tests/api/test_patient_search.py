"""One patient search: the patients page, the API and the order lists give the same answers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from webapp.extensions import db, writing
from webapp.imaging.models import OrderCounter
from webapp.imaging.numbering import order_year

EXAMPLES = ["Garcia, Maria", "maria garcia", "Garcia", "MRN100001", "100001", "mrn100001"]
NOT_MARIA_GARCIA = ["Maria Lopez", "Garcia Pedro", "MRN100002x"]


@pytest.fixture
def people(app, make_patient, make_visit, make_order):
    maria = make_patient(first_name="Maria", last_name="Garcia", mrn="MRN100001")
    others = [
        make_patient(first_name="Maria", last_name="Lopez", mrn="MRN100002"),
        make_patient(first_name="Pedro", last_name="Sanchez", mrn="MRN300003"),
    ]
    with app.app_context(), writing():  # the next order of this year is number 40
        db.session.merge(OrderCounter(year=order_year(datetime.now(UTC)), last_value=39))
        db.session.commit()
    order = make_order(visit=make_visit(patient=maria))
    other_orders = [make_order(visit=make_visit(patient=other)) for other in others]
    return maria, others, order, other_orders


@pytest.mark.parametrize("q", EXAMPLES)
def test_every_example_finds_maria_garcia_everywhere(client, auth, bearer, people, q):
    maria, others, order, other_orders = people
    headers = bearer("doctor")
    api = client.get("/api/v1/patients", query_string={"q": q}, headers=headers)
    assert api.status_code == 200
    assert [item["id"] for item in api.json["items"]] == [str(maria.id)]
    api_orders = client.get("/api/v1/imaging/orders", query_string={"q": q}, headers=headers)
    assert [item["id"] for item in api_orders.json["items"]] == [str(order.id)]

    auth.login("doctor")
    page = client.get("/patients", query_string={"q": q}).get_data(as_text=True)
    assert f"/patients/{maria.id}" in page
    assert not any(f"/patients/{other.id}" in page for other in others)
    orders_page = client.get("/imaging/orders", query_string={"q": q}).get_data(as_text=True)
    assert order.accession_number in orders_page
    assert not any(other.accession_number in orders_page for other in other_orders)


@pytest.mark.parametrize("q", NOT_MARIA_GARCIA)
def test_every_word_must_match(client, bearer, people, q):
    maria = people[0]
    api = client.get("/api/v1/patients", query_string={"q": q}, headers=bearer("doctor"))
    assert str(maria.id) not in {item["id"] for item in api.json["items"]}


@pytest.mark.parametrize("q", ["00040", "40", " 040 ", "acc-{year}-00040"])
def test_a_partial_accession_finds_the_order(client, auth, bearer, people, q):
    order, other_orders = people[2], people[3]
    assert order.accession_number.endswith("-00040")
    q = q.format(year=order.accession_number[4:8])
    api = client.get("/api/v1/imaging/orders", query_string={"q": q}, headers=bearer("doctor"))
    assert [item["id"] for item in api.json["items"]] == [str(order.id)]
    auth.login("doctor")
    page = client.get("/imaging/orders", query_string={"q": q}).get_data(as_text=True)
    assert order.accession_number in page
    assert not any(other.accession_number in page for other in other_orders)


# Issue 21, defect 6 and 8: names found only as typed ("Ångström", "ÅNGSTRÖM", "angstrom" found
# nobody on SQLite, whose lower() folds ASCII only), NFC and NFD "José" did not find each other.
ZOE_FINDERS = ["angstrom", "ÅNGSTRÖM", "Zoe Angstrom", "zoë ångström-ñúñez", "NUNEZ", "Ångström, Zoë"]


@pytest.fixture
def accented(app, make_patient, make_visit, make_order):
    zoe = make_patient(first_name="Zoë", last_name="Ångström-Ñúñez", mrn="MRN500001")
    other = make_patient(first_name="Zoe", last_name="Angstrand", mrn="MRN500002")
    order = make_order(visit=make_visit(patient=zoe))
    other_order = make_order(visit=make_visit(patient=other))
    return zoe, other, order, other_order


@pytest.mark.parametrize("q", ZOE_FINDERS)
def test_search_ignores_accents_and_case_everywhere(client, auth, bearer, accented, q):
    zoe, other, order, other_order = accented
    headers = bearer("doctor")
    api = client.get("/api/v1/patients", query_string={"q": q}, headers=headers)
    assert [item["id"] for item in api.json["items"]] == [str(zoe.id)], q
    api_orders = client.get("/api/v1/imaging/orders", query_string={"q": q}, headers=headers)
    assert [item["id"] for item in api_orders.json["items"]] == [str(order.id)]
    auth.login("doctor")
    page = client.get("/patients", query_string={"q": q}).get_data(as_text=True)
    assert f"/patients/{zoe.id}" in page and f"/patients/{other.id}" not in page
    orders_page = client.get("/imaging/orders", query_string={"q": q}).get_data(as_text=True)
    assert order.accession_number in orders_page and other_order.accession_number not in orders_page


def test_nfc_and_nfd_spellings_find_each_other(app, client, bearer):
    import unicodedata
    import uuid

    from webapp.patients.models import Patient

    headers = bearer("admin")
    nfd = unicodedata.normalize("NFD", "José")
    created = client.post("/api/v1/patients", headers=headers, json={
        "mrn": "MRN600001", "first_name": nfd, "last_name": "Ortiz", "date_of_birth": "1975-01-02", "sex": "male"})
    assert created.status_code == 201, created.json
    assert created.json["first_name"] == unicodedata.normalize("NFC", "José")  # stored NFC
    with app.app_context():
        assert db.session.get(Patient, uuid.UUID(created.json["id"])).first_name == "Jos\u00e9"
    for q in ("Jos\u00e9", nfd, "jose", "JOSÉ ortiz"):
        found = client.get("/api/v1/patients", query_string={"q": q}, headers=headers).json["items"]
        assert [item["mrn"] for item in found] == ["MRN600001"], q
