"""The order form: full page and dialog fragment, dependent choices, pre-fill, errors, one order per form."""

import re

import pytest
from sqlalchemy import func, select

from tests.pages.conftest import hx

pytestmark = pytest.mark.sqlite_only
SCRIPT = "<script>alert(1)</script>"


def _form(client, visit, **headers):
    return client.get(f"/imaging/orders/new?visit_id={visit.id}", headers=headers)


def _token(html: bytes) -> str:
    return re.search(rb'id="form_token" name="form_token" type="hidden" value="([^"]+)"', html).group(1).decode()


def _valid(visit, token, **fields):
    return {"visit_id": str(visit.id), "form_token": token, "modality": "XRAY", "body_part": "CHEST",
            "procedure_code": "71046", "clinical_indication": "Suspected pneumonia", "priority": "routine"} | fields


def _count_orders(app, **where):
    from webapp.extensions import db
    from webapp.imaging.models import ImagingOrder

    with app.app_context():
        statement = select(func.count()).select_from(ImagingOrder)
        for name, value in where.items():
            statement = statement.where(getattr(ImagingOrder, name) == value)
        return db.session.scalar(statement)


def test_form_full_page_and_dialog_fragment_prefilled_from_the_visit(client, auth, make_visit):
    visit = make_visit(diagnoses=[("J18.9", "Pneumonia, unspecified organism")], clinical_notes="Crackles right base.")
    auth.login("doctor")
    page = _form(client, visit)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in html and 'id="order-form"' in html
    assert "Pneumonia, unspecified organism (J18.9)</textarea>" in html
    assert "Crackles right base.</textarea>" in html
    assert re.search(r'<option selected value="[0-9a-f-]+">J18.9 Pneumonia', html)
    fragment = _form(client, visit, **hx("dialog-body"))
    assert fragment.data.lstrip().startswith(b'<div id="order-form-panel">') and b"<html" not in fragment.data
    assert b'id="dialog-title"' in fragment.data


def test_choices_are_filtered_by_modality_and_body_part(client, auth, make_visit):
    visit = make_visit()
    auth.login("doctor")
    url = f"/imaging/orders/new?visit_id={visit.id}&modality=XRAY&body_part=HEAD&procedure_code=70450"
    choices = client.get(url, headers=hx("order-choices"))
    html = choices.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="order-choices"')
    assert 'value="CHEST"' in html and 'value="HEAD"' not in html  # no head X-ray
    assert "70450" not in html  # a CT procedure dropped with the body part
    chest = client.get(url.replace("HEAD", "CHEST"), headers=hx("order-choices")).get_data(as_text=True)
    assert "71046 — X-Ray Chest, 2 views" in chest and "71250" not in chest and 'id="laterality"' not in chest
    limb = client.get(f"/imaging/orders/new?visit_id={visit.id}&modality=XRAY&body_part=EXTREMITY",
                      headers=hx("order-choices")).get_data(as_text=True)
    assert 'id="laterality"' in limb and "73130 — X-Ray Hand, 3 views" in limb


def test_validation_errors_rerender_in_place(client, auth, make_visit, app):
    visit = make_visit()
    auth.login("doctor")
    token = _token(_form(client, visit).data)
    bad = client.post("/imaging/orders/new", data=_valid(visit, token, body_part="EXTREMITY", procedure_code="73130",
                                                          clinical_indication=""), headers=hx("order-form-panel"))
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and html.lstrip().startswith('<div id="order-form-panel">')
    assert 'id="clinical_indication-error"' in html
    assert "Say which side" in html and 'id="laterality"' in html  # from the service's rules
    plain = client.post("/imaging/orders/new", data=_valid(visit, token, modality=""))
    assert plain.status_code == 422 and b"<html" in plain.data and b"Choose a modality." in plain.data
    assert _count_orders(app) == 0
    refresh = client.post("/imaging/orders/new", data=_valid(visit, token, refresh="1", body_part="HEAD"))
    assert refresh.status_code == 200 and b"is-invalid" not in refresh.data  # "Update choices" without JS


def test_success_without_and_with_htmx(client, auth, make_visit, app):
    visit = make_visit()
    auth.login("doctor")
    plain = client.post("/imaging/orders/new", data=_valid(visit, _token(_form(client, visit).data)))
    assert plain.status_code == 303 and plain.headers["Location"].startswith("/imaging/orders/")
    detail = client.get(plain.headers["Location"]).get_data(as_text=True)
    accession = re.search(r'id="accession-number"[^>]*>(ACC-\d{4}-\d{5})<', detail).group(1)
    assert f"Accession number {accession}" in detail  # the flash message

    token = _token(_form(client, visit, **hx("dialog-body")).data)
    created = client.post("/imaging/orders/new", data=_valid(visit, token, priority="stat"), headers=hx("order-form-panel"))
    html = created.get_data(as_text=True)
    assert created.status_code == 200 and created.headers["HX-Trigger"] == "orders-changed"
    new_accession = re.search(r'id="accession-number"[^>]*>(ACC-\d{4}-\d{5})<', html).group(1)
    assert new_accession != accession
    assert '<section id="visit-orders"' in html and 'hx-swap-oob="true"' in html  # the visit's list, updated
    oob = html[html.index('<section id="visit-orders"'):]
    assert accession in oob and new_accession in oob
    assert _count_orders(app, visit_id=visit.id) == 2


def test_the_same_form_submitted_twice_creates_one_order(client, auth, make_visit, app):
    visit = make_visit()
    auth.login("doctor")
    token = _token(_form(client, visit).data)
    first = client.post("/imaging/orders/new", data=_valid(visit, token), headers=hx("order-form-panel"))
    second = client.post("/imaging/orders/new", data=_valid(visit, token), headers=hx("order-form-panel"))
    accession = re.compile(r'id="accession-number"[^>]*>(ACC-\d{4}-\d{5})<')
    numbers = [accession.search(r.get_data(as_text=True)).group(1) for r in (first, second)]
    assert numbers[0] == numbers[1]
    assert _count_orders(app, visit_id=visit.id) == 1
    forged = client.post("/imaging/orders/new", data=_valid(visit, "made-up-token"))
    assert forged.status_code == 422 and b"This form has expired" in forged.data
    assert _count_orders(app, visit_id=visit.id) == 1


def test_only_doctors_get_the_form(client, auth, make_visit):
    visit = make_visit()
    auth.login("scheduler")
    assert _form(client, visit).status_code == 403
    assert b"Order Imaging" not in client.get(f"/visits/{visit.id}").data
    auth.login("doctor")
    assert b'id="order-imaging"' in client.get(f"/visits/{visit.id}").data
    assert client.get("/imaging/orders/new?visit_id=nope").status_code == 404


def test_script_as_clinical_text_is_escaped_on_every_page(client, auth, make_visit, make_order):
    visit = make_visit(clinical_notes=SCRIPT, diagnoses=[("X1", SCRIPT)])
    order = make_order("ordered", visit=visit, clinical_indication=SCRIPT, special_instructions=SCRIPT, priority="stat")
    auth.login("doctor")
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    pages = [f"/imaging/orders/{order.id}", f"/imaging/orders?q={order.accession_number}", "/dashboard",
             f"/visits/{visit.id}", f"/patients/{visit.patient_id}?tab=imaging", f"/patients/{visit.patient_id}",
             f"/imaging/orders/new?visit_id={visit.id}"]
    for url in pages:
        html = client.get(url).get_data(as_text=True)
        assert escaped in html, url
        assert SCRIPT not in html, url
