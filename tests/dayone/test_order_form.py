"""The doctor's form (issue 14, item 5) and the order list's filters (item 6): text limits refused
with the field's label and never cut, the side fixed by bilateral procedures, the diagnosis chosen
explicitly, the patient banner; labelled filter errors, applied values and the booked-day filter."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.pages.conftest import hx
from tests.pages.test_order_form import _form, _token, _valid
from webapp.extensions import db

pytestmark = pytest.mark.sqlite_only
ORDERS = "/api/v1/imaging/orders"


def _orders(app):
    from webapp.imaging.models import ImagingOrder

    with app.app_context():
        return list(db.session.scalars(select(ImagingOrder)))


def _error(html: str, field_id: str) -> str:
    found = re.search(rf'id="{field_id}-error">([^<]+)<', html)
    return found.group(1) if found else ""


# ---------------------------------------------------------------------------- text limits


def test_limited_fields_have_a_counter_and_no_maxlength(client, auth, make_visit):
    auth.login("doctor")
    html = _form(client, make_visit()).get_data(as_text=True)
    assert "maxlength" not in html  # the browser would cut a paste silently
    textarea = re.search(r'<textarea[^>]*id="clinical_indication"[^>]*>', html).group(0)
    assert 'data-limit="2000"' in textarea and "clinical_indication-counter" in textarea
    counter = r'id="clinical_indication-counter"[^>]*><span class="char-count">[\d,]+</span> / 2,000 characters'
    assert re.search(counter, html)
    assert re.search(r'id="clinical_history-counter"[^>]*>.*? / 4,000 characters', html)
    assert re.search(r'id="special_instructions-counter"[^>]*>.*? / 2,000 characters', html)


def test_5000_characters_are_refused_with_the_label_and_nothing_is_saved(client, auth, make_visit, app):
    visit = make_visit()
    auth.login("doctor")
    token = _token(_form(client, visit).data)
    pasted = "x" * 5000
    page = client.post("/imaging/orders/new", data=_valid(visit, token, clinical_indication=pasted),
                       headers=hx("order-form-panel"))
    html = page.get_data(as_text=True)
    assert page.status_code == 422
    assert _error(html, "clinical_indication") == (
        "Clinical indication is too long: at most 2,000 characters, you have 5,000. Shorten it; nothing was saved.")
    assert f"\r\n{pasted}</textarea>" in html  # kept whole for the doctor to shorten, not cut
    assert 'class="form-text char-counter over-limit"' in html
    assert _orders(app) == []


def test_over_limit_text_of_an_action_is_refused_with_its_label(client, auth, make_order):
    order = make_order("ordered")
    auth.login("doctor")
    page = client.post(f"/imaging/orders/{order.id}/actions/cancel",
                       data={"cancel-version": order.version, "cancel-reason": "y" * 1001}, headers=hx("order-main"))
    html = page.get_data(as_text=True)
    assert page.status_code == 422
    assert _error(html, "cancel-reason").startswith("Reason for cancelling is too long: at most 1,000 characters")
    empty = client.post(f"/imaging/orders/{order.id}/actions/cancel",
                        data={"cancel-version": order.version, "cancel-reason": ""}, headers=hx("order-main"))
    assert _error(empty.get_data(as_text=True), "cancel-reason") == "Enter the reason for cancelling."


def test_required_fields_say_what_to_do_in_one_wording(client, auth, make_visit):
    visit = make_visit()
    auth.login("doctor")
    token = _token(_form(client, visit).data)
    html = client.post("/imaging/orders/new", data=_valid(visit, token, modality="", clinical_indication=""),
                       headers=hx("order-form-panel")).get_data(as_text=True)
    assert _error(html, "modality") == "Choose a modality."
    assert _error(html, "clinical_indication") == "Enter the clinical indication."
    assert "This field is required." not in html


# ---------------------------------------------------------------------------- laterality


def test_bilateral_mammography_with_left_is_refused_on_the_page(client, auth, make_visit, make_patient, app):
    visit = make_visit(patient=make_patient(sex="female"))
    auth.login("doctor")
    token = _token(_form(client, visit).data)
    fields = {"modality": "MG", "body_part": "BREAST", "procedure_code": "77066"}
    page = client.post("/imaging/orders/new", data=_valid(visit, token, laterality="left", **fields),
                       headers=hx("order-form-panel"))
    assert page.status_code == 422
    assert _error(page.get_data(as_text=True), "laterality") == (
        "Diagnostic Mammography, bilateral is always bilateral: laterality left contradicts it.")
    assert _orders(app) == []
    choices = client.get(f"/imaging/orders/new?visit_id={visit.id}&modality=MG&body_part=BREAST&procedure_code=77066",
                         headers=hx("order-choices")).get_data(as_text=True)
    assert '<option selected value="bilateral">' in choices and "This procedure is always bilateral." in choices
    placed = client.post("/imaging/orders/new", data=_valid(visit, token, laterality="bilateral", **fields))
    assert placed.status_code == 303 and [o.laterality for o in _orders(app)] == ["bilateral"]


def test_bilateral_mammography_with_left_is_refused_by_the_api(client, bearer, order_payload, app):
    doctor = bearer("doctor")
    fields = {"modality": "MG", "body_part": "BREAST", "procedure_code": "77067"}
    refused = client.post(ORDERS, json=order_payload(laterality="left", **fields), headers=doctor)
    assert refused.status_code == 422 and "contradicts" in refused.json["errors"]["laterality"]
    unilateral = client.post(ORDERS, json=order_payload(laterality="left", **fields | {"procedure_code": "77065"}),
                             headers=doctor)
    assert unilateral.status_code == 201 and unilateral.json["laterality"] == "left"
    implied = client.post(ORDERS, json=order_payload(**fields), headers=doctor)
    assert implied.status_code == 201 and implied.json["laterality"] == "bilateral"
    changed = client.put(f"{ORDERS}/{implied.json['id']}", json={"laterality": "right"},
                         headers=doctor | {"If-Match": '"1"'})
    assert changed.status_code == 422 and "laterality" in changed.json["errors"]


# ---------------------------------------------------------------------------- diagnosis


def test_diagnosis_preselected_only_when_the_visit_has_exactly_one(client, auth, make_visit, app):
    auth.login("doctor")
    one = _form(client, make_visit(diagnoses=[("J18.9", "Pneumonia")])).get_data(as_text=True)
    assert re.search(r'<option selected value="[0-9a-f-]+">J18.9 Pneumonia', one)
    assert "Pneumonia (J18.9)</textarea>" in one
    visit = make_visit(diagnoses=[("J18.9", "Pneumonia"), ("R10.31", "Right lower quadrant pain")])
    two = _form(client, visit).get_data(as_text=True)
    select_html = re.search(r'<select[^>]*id="diagnosis_id".*?</select>', two, re.S).group(0)
    assert "selected" not in select_html and '<option value="">Choose the diagnosis</option>' in select_html
    assert '<option value="none">Another problem (no linked diagnosis)</option>' in select_html
    assert re.search(r'id="clinical_indication"[^>]*>\s*</textarea>', two)  # not the primary's text
    token = _token(two.encode())
    missing = client.post("/imaging/orders/new", headers=hx("order-form-panel"),
                          data=_valid(visit, token, clinical_indication="Appendicitis?", diagnosis_id=""))
    assert missing.status_code == 422
    assert _error(missing.get_data(as_text=True), "diagnosis_id") == (
        "Choose the diagnosis this order is for, or “Another problem”.")
    assert _orders(app) == []
    second = re.findall(r'<option value="([0-9a-f-]{36})">R10.31', select_html)[0]
    placed = client.post("/imaging/orders/new", data=_valid(visit, token, clinical_indication="Appendicitis?",
                                                             diagnosis_id=second))
    assert placed.status_code == 303 and [str(o.diagnosis_id) for o in _orders(app)] == [second]


def test_another_problem_places_the_order_without_a_diagnosis(client, auth, make_visit, app):
    visit = make_visit(diagnoses=[("J18.9", "Pneumonia"), ("R05", "Cough")])
    auth.login("doctor")
    token = _token(_form(client, visit).data)
    placed = client.post("/imaging/orders/new", data=_valid(visit, token, diagnosis_id="none"))
    assert placed.status_code == 303 and [o.diagnosis_id for o in _orders(app)] == [None]


# ---------------------------------------------------------------------------- patient banner


def test_patient_banner_on_order_visit_and_form_pages(client, auth, make_patient, make_visit, make_order):
    from datetime import date

    patient = make_patient(first_name="Maria", last_name="Garcia", sex="female", date_of_birth=date(1971, 3, 2))
    visit = make_visit(patient=patient)
    order = make_order("ordered", visit=visit)
    auth.login("doctor")
    today = date.today()
    age = today.year - 1971 - ((today.month, today.day) < (3, 2))
    for url in (f"/imaging/orders/{order.id}", f"/visits/{visit.id}", f"/imaging/orders/new?visit_id={visit.id}"):
        html = client.get(url).get_data(as_text=True)
        banner = re.search(r'<div class="patient-banner".*?\n</div>', html, re.S).group(0)
        text = re.sub(r"<[^>]+>", " ", banner)
        assert "Garcia, Maria" in text and f"{age} y" in text and "(born 1971-03-02)" in text, url
        assert "Female" in text and patient.mrn in text and f"MRN {patient.mrn}" not in html, url


# ---------------------------------------------------------------------------- filters


def test_invalid_filters_are_labelled_and_the_others_still_apply(client, auth, make_order):
    wanted = make_order("ordered", modality="CT", body_part="HEAD", procedure_code="70450")
    other = make_order("ordered")
    auth.login("scheduler")
    page = client.get("/imaging/orders?status=bogus&modality=CT")
    html = page.get_data(as_text=True)
    assert page.status_code == 422
    assert "<span class=\"fw-semibold\">Status</span>: Must be one of" in html and "(you entered “bogus”)" in html
    assert wanted.accession_number in html and other.accession_number not in html  # modality still applied
    status_select = re.search(r'<select[^>]*id="filter-status".*?</select>', html, re.S).group(0)
    assert "selected" not in status_select  # shows what was applied: any status
    backwards = client.get("/imaging/orders?date_from=2030-02-01&date_to=2030-01-01").get_data(as_text=True)
    assert "<span class=\"fw-semibold\">Ordered to</span>: Must not be before the start of the range." in backwards
    assert 'name="date_to" value=""' in backwards and 'name="date_from" value="2030-02-01"' in backwards
    assert "date_to:" not in backwards and "date_from" not in backwards.split('role="alert"')[1][:400]
    fragment = client.get("/imaging/orders?status=bogus", headers=hx("order-results")).get_data(as_text=True)
    assert 'id="order-filter"' in fragment and 'hx-swap-oob="true"' in fragment  # the inputs follow


def test_filter_by_booked_day(client, auth, make_order, book, app):
    from webapp.db_types import clinic_zone

    tomorrow = make_order("ordered")
    later = make_order("ordered")
    with app.app_context():
        zone = clinic_zone()
    day = (datetime.now(UTC) + timedelta(days=1)).astimezone(zone).date()
    book(tomorrow, datetime(day.year, day.month, day.day, 10, tzinfo=zone))
    book(later, datetime(day.year, day.month, day.day, 10, tzinfo=zone) + timedelta(days=2))
    auth.login("scheduler")
    html = client.get(f"/imaging/orders?scheduled_on={day.isoformat()}").get_data(as_text=True)
    assert tomorrow.accession_number in html and later.accession_number not in html
    assert f'name="scheduled_on" value="{day.isoformat()}"' in html
    api = client.get(f"{ORDERS}?scheduled_on={day.isoformat()}").json  # the session cookie works too
    assert [item["accession_number"] for item in api["items"]] == [tomorrow.accession_number]


def test_filter_form_drops_empty_parameters_and_has_no_silent_maxlength(client, auth):
    auth.login("scheduler")
    html = client.get("/imaging/orders").get_data(as_text=True)
    form = re.search(r'<form id="order-filter".*?</form>', html, re.S).group(0)
    assert "data-drop-empty" in form and "maxlength" not in form
    long = client.get("/imaging/orders?q=" + "a" * 101).get_data(as_text=True)
    assert "<span class=\"fw-semibold\">Search</span>: At most 100 characters." in long



def test_order_search_takes_names_both_ways_mrn_with_or_without_prefix_and_partial_numbers(
        client, auth, make_patient, make_visit, make_order):
    patient = make_patient(first_name="Maria", last_name="Garcia", mrn="MRN700321")
    order = make_order("ordered", visit=make_visit(patient=patient))
    other = make_order("ordered", visit=make_visit(patient=make_patient(first_name="Ann", last_name="Other")))
    auth.login("scheduler")
    sequence = order.accession_number.rsplit("-", 1)[1]  # "00040"
    for q in ("Garcia, Maria", "maria garcia", "MRN700321", "700321", sequence, order.accession_number[:-2]):
        html = client.get("/imaging/orders", query_string={"q": q}).get_data(as_text=True)
        assert order.accession_number in html, q
        if q != order.accession_number[:-2]:
            assert other.accession_number not in html, q
