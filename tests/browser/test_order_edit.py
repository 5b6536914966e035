"""A doctor corrects an order on its page: the edit dialog in headless Chromium, against the real server."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.test_accessibility_and_escaping import _serious

pytestmark = pytest.mark.browser
INDICATION = "Cough for three weeks (order to correct)"


def _token(page, live_server, username: str) -> dict[str, str]:
    answer = page.request.post(f"{live_server.url}/api/v1/auth/token",
                               data={"username": username, "password": f"{username}-demo-2026"})
    assert answer.ok, answer.text()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _new_chest_xray(page, live_server) -> dict:
    """An order of this test's own (placed through the API, its indication unlike any other test's
    so their queries do not find it), on the newest visit."""
    visit_id, patient_id = live_server.query("SELECT id, patient_id FROM visits ORDER BY visit_date DESC LIMIT 1")[0]
    answer = page.request.post(f"{live_server.url}/api/v1/imaging/orders", headers=_token(page, live_server, "doctor"),
                               data={"patient_id": str(uuid.UUID(patient_id)), "visit_id": str(uuid.UUID(visit_id)),
                                     "modality": "XRAY", "body_part": "CHEST", "procedure_code": "71046",
                                     "clinical_indication": INDICATION, "priority": "routine"})
    assert answer.status == 201, answer.text()
    return answer.json()


def test_doctor_edits_the_body_part_in_the_dialog(page, live_server, sign_in):
    console_errors = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    sign_in(page, "doctor")
    order = _new_chest_xray(page, live_server)
    page.goto(f"/imaging/orders/{order['id']}")
    page.evaluate("window.__sameDocument = true")
    expect(page.locator("#order-body-part")).to_have_text("Chest")

    page.get_by_role("link", name="Edit order").click()
    dialog = page.locator("#app-dialog")
    expect(dialog).to_have_attribute("open", "")
    expect(dialog.get_by_role("heading", level=1)).to_contain_text(order["accession_number"])
    expect(dialog.get_by_label("Modality")).to_have_value("XRAY")
    expect(dialog.get_by_label("Body part")).to_have_value("CHEST")
    expect(dialog.get_by_label("Procedure (CPT code)")).to_have_value("71046")
    expect(dialog.get_by_label("Clinical indication")).to_have_value(INDICATION)
    assert page.evaluate("document.getElementById('app-dialog').contains(document.activeElement)")

    # The procedures follow the body part (the modality's own, with their CPT codes).
    dialog.get_by_label("Body part").select_option("ABDOMEN")
    page.locator("#procedure_code option[value='71046']").wait_for(state="detached")
    procedures = page.locator("#procedure_code option").all_inner_texts()
    assert procedures == ["Not specified", "74018 — X-Ray Abdomen, 1 view"], procedures
    dialog.get_by_label("Procedure (CPT code)").select_option("74018")
    expect(dialog.get_by_label("Body part")).to_have_value("ABDOMEN")

    violations = _serious(page)
    assert not violations, "\n".join(violations)

    dialog.get_by_role("button", name="Save changes").click()
    expect(dialog).not_to_have_attribute("open", "")
    expect(page.locator("#order-body-part")).to_have_text("Abdomen")
    expect(page.locator("#order-procedure")).to_contain_text("X-Ray Abdomen, 1 view")
    timeline = page.locator("#order-timeline li", has_text="Details changed")
    expect(timeline).to_contain_text("Body part: Chest → Abdomen")
    expect(timeline).to_contain_text("Procedure: X-Ray Chest, 2 views (CPT 71046) → X-Ray Abdomen, 1 view (CPT 74018)")
    assert page.evaluate("window.__sameDocument === true")  # no full reload
    stored = live_server.query("SELECT body_part, procedure_code, version FROM imaging_orders WHERE id = ?",
                               uuid.UUID(order["id"]).hex)
    assert stored == [("ABDOMEN", "74018", order["version"] + 1)]
    assert console_errors == []


def test_a_change_by_someone_else_leaves_the_open_form_alone_then_says_so(page, live_server, sign_in):
    sign_in(page, "doctor")
    order = _new_chest_xray(page, live_server)
    page.goto(f"/imaging/orders/{order['id']}")
    page.wait_for_selector("body.live-up")
    page.evaluate("window.__sameDocument = true")
    page.get_by_role("link", name="Edit order").click()
    dialog = page.locator("#app-dialog")
    expect(dialog).to_have_attribute("open", "")
    dialog.get_by_label("Priority").select_option("urgent")
    dialog.get_by_label("Special instructions").fill("Patient uses a wheelchair")

    # The scheduler books it meanwhile: the page behind the dialog follows live, the form stays.
    scheduled = page.request.patch(
        f"{live_server.url}/api/v1/imaging/orders/{order['id']}/status", headers=_token(page, live_server, "scheduler"),
        data={"status": "scheduled", "scheduled_date": "2030-01-15T10:30:00+00:00"})
    assert scheduled.ok, scheduled.text()
    expect(page.locator("#order-main .page-header [data-status]")).to_have_text("Scheduled")
    expect(dialog).to_have_attribute("open", "")
    expect(dialog.get_by_label("Priority")).to_have_value("urgent")
    expect(dialog.get_by_label("Special instructions")).to_have_value("Patient uses a wheelchair")

    # Saving is refused (the scheduler's booking came first): the form stays with what was typed,
    # naming who changed the order (issue 26 #18: the text was lost, "Someone else" was wrong).
    dialog.get_by_role("button", name="Save changes").click()
    expect(dialog.locator("#order-form-message")).to_contain_text(
        f"changed order {order['accession_number']} while you were looking at it")
    expect(dialog.locator("#order-form-message")).to_contain_text("What you entered is still below")
    expect(dialog).to_have_attribute("open", "")
    expect(dialog.get_by_label("Priority")).to_have_value("urgent")
    expect(dialog.get_by_label("Special instructions")).to_have_value("Patient uses a wheelchair")
    expect(page.locator("#order-main .page-header .priority-badge")).to_have_text("Routine")
    assert page.evaluate("window.__sameDocument === true")
    assert live_server.query("SELECT priority, status FROM imaging_orders WHERE id = ?",
                             uuid.UUID(order["id"]).hex) == [("routine", "scheduled")]
