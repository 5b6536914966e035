"""Dashboard, patient search, patient page tabs and visit page: full page and htmx fragment."""

import pytest

from tests.pages.conftest import hx

pytestmark = pytest.mark.sqlite_only


def test_dashboard_counts_full_and_per_region(client, auth, make_order):
    stat = make_order("ordered", priority="stat")
    make_order("reported")
    auth.login("radiologist")
    page = client.get("/dashboard").get_data(as_text=True)
    assert "<html" in page and 'id="dashboard-counts"' in page and 'id="dashboard-today"' in page
    assert '<div class="count" data-count="1">1</div>' in page  # one ordered, one reported
    assert 'id="count-open-stat">1<' in page and stat.accession_number in page
    counts = client.get("/dashboard", headers=hx("dashboard-counts")).get_data(as_text=True)
    assert counts.lstrip().startswith('<section id="dashboard-counts"') and "dashboard-today" not in counts
    priority = client.get("/dashboard", headers=hx("dashboard-priority")).get_data(as_text=True)
    assert priority.lstrip().startswith('<section id="dashboard-priority"') and stat.accession_number in priority
    whole = client.get("/dashboard", headers=hx("something-else")).get_data(as_text=True)
    assert whole.lstrip().startswith('<div id="dashboard"') and "<html" not in whole
    restore = client.get("/dashboard", headers=hx("dashboard-counts") | {"HX-History-Restore-Request": "true"})
    assert b"<html" in restore.data  # a history restore gets the whole page


def test_patient_search_full_and_fragment(client, auth, make_patient):
    make_patient(first_name="Olga", last_name="Petrova", mrn="MRN-OP-1")
    make_patient(first_name="Kwame", last_name="Mensah", mrn="MRN-KM-1")
    auth.login("scheduler")
    page = client.get("/patients?q=petro").get_data(as_text=True)
    assert "<html" in page and "Petrova, Olga" in page and "Mensah" not in page
    fragment = client.get("/patients?q=MRN-KM-1", headers=hx("patient-results")).get_data(as_text=True)
    assert fragment.lstrip().startswith('<section id="patient-results"') and "Mensah, Kwame" in fragment
    assert "Petrova" not in fragment
    assert "No patient matches" in client.get("/patients?q=zzz").get_data(as_text=True)


def test_patient_page_and_imaging_history_tab(client, auth, make_visit, make_order):
    visit = make_visit()
    orders = [make_order("reported", visit=visit), make_order("ordered", visit=visit)]
    auth.login("doctor")
    overview = client.get(f"/patients/{visit.patient_id}").get_data(as_text=True)
    assert "<html" in overview and f"/visits/{visit.id}" in overview and orders[0].accession_number not in overview
    history = client.get(f"/patients/{visit.patient_id}?tab=imaging").get_data(as_text=True)
    assert "<html" in history and 'aria-current="page"' in history
    assert history.index(orders[1].accession_number) < history.index(orders[0].accession_number)  # newest first
    tab = client.get(f"/patients/{visit.patient_id}?tab=imaging", headers=hx("patient-tab-region")).get_data(as_text=True)
    assert tab.lstrip().startswith('<div id="patient-tab-region"') and "<html" not in tab
    assert all(o.accession_number in tab for o in orders)
    assert client.get("/patients/00000000-0000-0000-0000-000000000000").status_code == 404


def test_visit_page_with_orders_full_and_fragment(client, auth, make_visit, make_order):
    visit = make_visit(clinical_notes="Crackles right base.")
    order = make_order("scheduled", visit=visit)
    auth.login("doctor")
    page = client.get(f"/visits/{visit.id}").get_data(as_text=True)
    assert "<html" in page and "Crackles right base." in page and "J18.9 Pneumonia" in page
    assert f'id="order-row-{order.id}"' in page and 'id="order-imaging"' in page
    assert f'href="/imaging/orders/new?visit_id={visit.id}"' in page  # a real link without JavaScript
    fragment = client.get(f"/visits/{visit.id}", headers=hx("visit-orders")).get_data(as_text=True)
    assert fragment.lstrip().startswith('<section id="visit-orders"') and order.accession_number in fragment
    assert "hx-swap-oob" not in fragment
