"""The Patient History scenario to its last step (issue 16): the doctor opens the patient's imaging
history, opens an order, sees its thumbnails (fetched through the app from a real Orthanc) and
follows "Open images". The server runs as `make run` does with ORTHANC_URL set: its master
starts the PACS follower, which matches the study storescu sent."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.events.livestack import wait_until
from tests.pacs.orthanc import order_study, start_orthanc

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    server = start_orthanc(tmp_path_factory.mktemp("orthanc"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def live_server_env(orthanc):
    return {"ORTHANC_URL": orthanc.url, "PACS_POLL_SECONDS": "0.3"}


@pytest.fixture(scope="module")
def live_server(tmp_path_factory, live_server_env):
    from tests.browser.live import start_live_server

    server = start_live_server(tmp_path_factory.mktemp("live-server-pacs"), live_server_env)
    yield server
    server.stop()


def test_patient_history_to_the_images(page, live_server, orthanc, sign_in, tmp_path):
    [(order_hex, accession, study_uid, mrn, patient_hex, last_name)] = live_server.query(
        "SELECT o.id, o.accession_number, o.study_instance_uid, p.mrn, p.id, p.last_name FROM imaging_orders o "
        "JOIN patients p ON p.id = o.patient_id WHERE o.status = 'completed' ORDER BY o.ordered_date DESC LIMIT 1")
    order = type("Order", (), {"accession_number": accession, "study_instance_uid": study_uid})
    # The study names the order's patient (ID and family name), as the worklist told the scanner.
    orthanc.send(order_study(tmp_path, order, mrn, patient_name=f"{last_name}^", series=(2, 1, 1)))
    assert wait_until(lambda: live_server.query(
        "SELECT 1 FROM pacs_studies WHERE order_id = ?", order_hex), 60), live_server.log()

    sign_in(page, "doctor")
    page.goto(f"/patients?q={last_name}")
    page.locator(f"a[href='/patients/{uuid.UUID(patient_hex)}']").first.click()
    page.get_by_role("link", name="Imaging History").click()
    expect(page).to_have_url(re.compile(r"tab=imaging"))
    expect(page.locator("#patient-images")).to_contain_text(accession)
    page.locator("#patient-orders").get_by_role("link", name=accession).click()

    expect(page.locator("#accession-number")).to_have_text(accession)
    expect(page.locator("#order-timeline")).to_contain_text("Images received (3 series, 4 images)")
    thumbnails = page.locator("#order-images-thumbnails img")
    expect(thumbnails).to_have_count(3)
    for index in range(3):  # each one loaded through the app (a broken image has no natural width)
        thumbnails.nth(index).scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumbnails.nth(index).element_handle())

    link = page.get_by_role("link", name=re.compile(r"^Open images"))
    orthanc_id = live_server.query("SELECT orthanc_id FROM pacs_studies WHERE order_id = ?", order_hex)[0][0]
    expect(link).to_have_attribute("href", f"{orthanc.url}/app/explorer.html#study?uuid={orthanc_id}")
    with page.context.expect_page() as opened:
        link.click()
    viewer = opened.value
    viewer.wait_for_load_state()
    assert viewer.url.startswith(f"{orthanc.url}/app/explorer.html#study?uuid={orthanc_id}")
    expect(viewer.locator("body")).to_contain_text(accession, timeout=20_000)


def test_another_patients_study_is_refused_then_corrected_in_the_browser(new_page, live_server, orthanc, sign_in,
                                                                        tmp_path):
    """Issue 21, defect 3 in Chromium: a held study of another patient is not matched by typing its
    order's accession (the page shows both identities), only corrected in Orthanc with a reason and
    the confirmation box; afterwards Orthanc holds it once, under the order's patient."""
    from pydicom.uid import generate_uid

    from tests.pacs.orthanc import make_study

    [(order_hex, accession, mrn, last_name)] = live_server.query(
        "SELECT o.id, o.accession_number, p.mrn, p.last_name FROM imaging_orders o JOIN patients p "
        "ON p.id = o.patient_id WHERE o.status = 'scheduled' ORDER BY o.ordered_date DESC LIMIT 1")
    uid = generate_uid()
    orthanc.send(make_study(tmp_path / "wrong", study_uid=uid, accession=accession, patient_id="MRN-WRONG-1",
                            patient_name="DOE^JANE", birth_date="19550303", series=(1,)))
    assert wait_until(lambda: live_server.query(
        "SELECT 1 FROM pacs_studies WHERE study_instance_uid = ? AND hold_reason IS NOT NULL", uid), 60), \
        live_server.log()

    page = new_page({"width": 1440, "height": 900})
    sign_in(page, "admin")
    page.goto("/imaging/unmatched-studies")
    row = page.locator("#unmatched-studies tbody tr", has_text="DOE JANE")
    expect(row).to_contain_text(f"Order {accession} is for")
    expect(row.get_by_label("Accession number of the order")).to_have_value("")  # nothing pre-filled
    row.get_by_label("Accession number of the order").fill(accession)
    row.get_by_role("button", name="Match").click()
    refusal = page.locator("#study-refusal")
    expect(refusal).to_contain_text("Not matched: this study is of another patient")
    expect(page.locator("#refusal-identities")).to_contain_text("MRN-WRONG-1")
    expect(page.locator("#refusal-identities")).to_contain_text(mrn)
    page.screenshot(path=str(tmp_path / "study-refused-1440x900.png"), full_page=True)
    assert live_server.query("SELECT order_id FROM pacs_studies WHERE study_instance_uid = ?", uid) == [(None,)]

    page.get_by_label("Reason for the correction").fill("Scanned under the wrong worklist entry")
    page.get_by_label(re.compile("I have checked that these images are of")).check()
    page.get_by_role("button", name="Correct the study in the PACS and match").click()
    expect(page.locator("#flashes")).to_contain_text(f"corrected in the PACS to the patient of order {accession}")
    assert live_server.query("SELECT order_id FROM pacs_studies WHERE study_instance_uid = ?", uid) == [(order_hex,)]
    found = orthanc.post("/tools/find", {"Level": "Study", "Query": {"StudyInstanceUID": uid}})
    assert len(found) == 1
    assert orthanc.get(f"/studies/{found[0]}")["PatientMainDicomTags"]["PatientID"] == mrn
    page.goto(f"/imaging/orders/{uuid.UUID(order_hex)}")
    expect(page.locator("#order-timeline")).to_contain_text("Study corrected in the PACS")
    expect(page.locator("#order-timeline")).to_contain_text("Study match refused")
