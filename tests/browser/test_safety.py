"""Safety screening in headless Chromium against the real server with demo data (docs/safety.md):
the order form warns as the doctor picks contrast for a patient with eGFR 28 (ACR Manual on
Contrast Media 2024: eGFR < 30 with iodinated contrast), and the tablet refuses Start for an order a
radiologist has not protocoled. Screenshots of the new pages go to the test's folder
(``SAFETY_SCREENSHOTS=dir`` keeps them there, for docs/screenshots)."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.live import settled
from tests.browser.test_order_edit import _token

pytestmark = pytest.mark.browser
DESKTOP = {"width": 1440, "height": 900}
TABLET_PORTRAIT = {"width": 768, "height": 1024}


def _shots(tmp_path) -> Path:
    folder = Path(os.environ.get("SAFETY_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _order_of(live_server, mrn: str) -> tuple[str, str, str]:
    """(order id, visit id, patient id) of the demo patient's safety order."""
    row = live_server.query("SELECT o.id, o.visit_id, o.patient_id FROM imaging_orders o JOIN patients p "
                            "ON p.id = o.patient_id WHERE p.mrn = ?", mrn)[0]
    return tuple(str(uuid.UUID(value)) for value in row)


def test_the_order_form_warns_as_the_doctor_picks_contrast_for_egfr_28(new_page, live_server, sign_in, tmp_path):
    page = new_page(DESKTOP)
    sign_in(page, "doctor")
    _, visit_id, patient_id = _order_of(live_server, "MRN200001")  # Walter Hughes: eGFR 28, metformin
    orders_of_patient = "SELECT count(*) FROM imaging_orders WHERE patient_id = ?"
    before = live_server.query(orders_of_patient, uuid.UUID(patient_id).hex)[0][0]
    page.goto(f"/visits/{visit_id}")
    page.get_by_role("link", name="Order Imaging").click()
    dialog = page.locator("#app-dialog")
    expect(dialog).to_have_attribute("open", "")
    settled(page)
    # Each pick re-renders the choices; the next waits until htmx listens on the new ones.
    for label, value in (("Modality", "CT"), ("Body part", "ABDOMEN"), ("Procedure (CPT code)", "74176")):
        dialog.get_by_label(label).select_option(value)  # 74176: CT abdomen and pelvis without contrast
        settled(page)
    # The choices re-rendered for this procedure (its default contrast taken) before the next pick.
    expect(dialog.locator("#contrast_for")).to_have_value("74176")
    expect(dialog.locator("#order-form-alerts")).to_contain_text("no alerts for this exam")
    expect(dialog.get_by_label("Contrast")).to_have_value("none")
    settled(page)  # htmx listens on the re-rendered choices

    dialog.get_by_label("Contrast").select_option("iodinated")
    alerts = dialog.locator("#order-form-alerts")
    expect(alerts).to_contain_text("eGFR 28")
    expect(alerts.locator(".safety-stop")).to_contain_text("below 30")
    expect(alerts).to_contain_text("hold metformin for 48 hours")
    expect(dialog.locator("#order-form-protocol")).to_be_visible()
    page.screenshot(path=str(_shots(tmp_path) / "safety-order-form-alert.png"))
    # Nothing was placed by looking: the alerts came before any submit (other tests of the shared
    # server may have ordered for this patient before; none was added here).
    assert live_server.query(orders_of_patient, uuid.UUID(patient_id).hex)[0][0] == before

    dialog.get_by_role("button", name="Submit Order").click()
    expect(dialog.locator("#dialog-title")).to_have_text("Imaging order placed")
    stored = live_server.query("SELECT contrast, safety_alerts FROM imaging_orders WHERE patient_id = ? "
                               "ORDER BY created_at DESC LIMIT 1", uuid.UUID(patient_id).hex)[0]
    assert stored[0] == "iodinated" and "IODINATED_EGFR_BELOW_30" in stored[1]


def test_the_tablet_refuses_start_for_an_order_not_protocoled(new_page, live_server, sign_in, tmp_path):
    order_id, _, _ = _order_of(live_server, "MRN200002")  # Irene Kovacs: CT with contrast, a warning only
    page = new_page(TABLET_PORTRAIT)
    when = (datetime.now(UTC) + timedelta(minutes=30)).replace(second=0, microsecond=0).isoformat()
    booked = page.request.patch(f"{live_server.url}/api/v1/imaging/orders/{order_id}/status",
                                headers=_token(page, live_server, "scheduler"),
                                data={"status": "scheduled", "scheduled_date": when})
    assert booked.ok, booked.text()
    sign_in(page, "technician")
    page.goto("/imaging/worklist?station=")
    card = page.locator(f"#worklist-order-{order_id}")
    expect(card.locator(".protocol-badge")).to_have_text("Needs protocol")
    expect(card.locator(".contrast-badge")).to_have_text("Iodinated contrast")
    card.get_by_role("button", name="Start scan").click()
    message = page.locator("#worklist-message")
    expect(message).to_contain_text("Not started")
    expect(message).to_contain_text("needs a radiologist's protocol")
    message.scroll_into_view_if_needed()
    page.screenshot(path=str(_shots(tmp_path) / "safety-tablet-refused.png"), full_page=False)
    assert live_server.query("SELECT status FROM imaging_orders WHERE id = ?", uuid.UUID(order_id).hex)[0][0] == "scheduled"

    # The radiologist protocols it from the queue; then Start works.
    desk = new_page(DESKTOP)
    sign_in(desk, "radiologist")
    desk.goto("/imaging/protocols")
    item = desk.locator(f"#protocol-{order_id}")
    expect(item).to_contain_text("Kovacs")
    desk.screenshot(path=str(_shots(tmp_path) / "safety-protocol-queue.png"))
    item.get_by_label("Notes for the technician").fill("Oral contrast an hour before")
    item.get_by_role("button", name="Protocol").click()
    expect(desk.locator(f"#protocol-{order_id}")).to_have_count(0)
    page.reload()
    card = page.locator(f"#worklist-order-{order_id}")
    expect(card).to_contain_text("Portal venous phase")
    card.get_by_role("button", name="Start scan").click()
    expect(page.locator("#worklist-message")).to_contain_text("scan started")


def test_screenshots_of_the_safety_pages(new_page, live_server, sign_in, tmp_path):
    """The new pages as they look (looked at by hand): the patient's safety record, an order's safety
    card with a stop, the tablet with a patient waiting, the wall's waiting count."""
    shots = _shots(tmp_path)
    page = new_page(DESKTOP)
    sign_in(page, "radiologist")
    order_id, _, patient_id = _order_of(live_server, "MRN200007")  # MR-unsafe pacemaker
    page.goto(f"/patients/{patient_id}?tab=safety")
    expect(page.locator("#safety-summary")).to_contain_text("MR unsafe")
    page.screenshot(path=str(shots / "safety-patient-record.png"), full_page=True)
    page.goto(f"/imaging/orders/{order_id}")
    expect(page.locator("#order-safety-alerts")).to_contain_text("must not enter")
    page.screenshot(path=str(shots / "safety-order-page.png"), full_page=True)
    tablet = new_page(TABLET_PORTRAIT)
    sign_in(tablet, "technician")
    tablet.goto("/imaging/worklist?station=")
    expect(tablet.locator("#worklist-waiting")).to_contain_text("Novotny")
    tablet.screenshot(path=str(shots / "safety-tablet-waiting.png"))
    wall = new_page({"width": 1920, "height": 1080})
    sign_in(wall, "wall")
    wall.goto("/dashboard/wall")
    expect(wall.locator("#wall-waiting-room")).to_contain_text("Waiting room")
    expect(wall.locator("#wall-waiting-room")).to_contain_text("longest")
    assert "Novotny" not in wall.content()
    wall.screenshot(path=str(shots / "safety-wall.png"))
