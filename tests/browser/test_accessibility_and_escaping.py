"""axe-core on the main pages (no serious or critical violations), and clinical text that looks
like a script shown as text on every page it appears on."""

from __future__ import annotations

import uuid

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.browser.live import sign_out

pytestmark = pytest.mark.browser
SCRIPT = "<script>alert(1)</script>"


def _serious(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        f"{[(n['target'], n.get('failureSummary', '')[:160]) for n in v['nodes']][:3]}"
        for v in results.response["violations"] if v.get("impact") in ("serious", "critical")
    ]


def test_main_pages_have_no_serious_accessibility_violations(page, live_server, sign_in):
    checked = {}
    page.goto("/login")
    checked["login"] = _serious(page)
    sign_in(page, "scheduler")
    checked["dashboard"] = _serious(page)
    page.goto("/imaging/orders")
    checked["order list"] = _serious(page)
    page.goto("/imaging/orders?status=ordered")
    page.locator("#orders-table a.accession-inline").first.click()
    page.locator("#action-schedule").wait_for()
    checked["order detail (with action forms)"] = _serious(page)
    page.goto("/patients?q=Garcia")
    page.get_by_role("link", name="Garcia, Maria").click()
    checked["patient"] = _serious(page)
    page.get_by_role("link", name="Imaging History").click()
    page.locator("#patient-orders").wait_for()
    checked["patient imaging history"] = _serious(page)
    sign_out(page)

    sign_in(page, "doctor")
    visit_id = str(uuid.UUID(live_server.query("SELECT id FROM visits LIMIT 1")[0][0]))
    page.goto(f"/visits/{visit_id}")
    checked["visit"] = _serious(page)
    page.get_by_role("link", name="Order Imaging").click()
    page.locator("#app-dialog[open] #order-form").wait_for()
    checked["order form dialog"] = _serious(page)
    page.goto(f"/imaging/orders/new?visit_id={visit_id}")
    page.get_by_role("button", name="Submit Order").click()  # empty modality: errors shown in place
    page.locator(".is-invalid").first.wait_for()
    checked["order form page with errors"] = _serious(page)
    page.goto("/imaging/orders/00000000-0000-0000-0000-000000000000")
    checked["404 page"] = _serious(page)
    failures = {name: found for name, found in checked.items() if found}
    assert not failures, "\n".join(f"{name}: {found}" for name, found in failures.items())


def test_script_in_clinical_indication_is_shown_as_text_everywhere(page, live_server, sign_in):
    alerts = []
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    sign_in(page, "doctor")
    visit_id = str(uuid.UUID(live_server.query("SELECT id FROM visits LIMIT 1")[0][0]))
    page.goto(f"/imaging/orders/new?visit_id={visit_id}")  # the full page form (no dialog)
    page.get_by_label("Modality").select_option("CT")
    page.locator("#body_part option[value='EXTREMITY']").wait_for(state="detached")
    page.get_by_label("Body part").select_option("HEAD")
    page.get_by_label("Clinical indication").fill(SCRIPT)
    page.get_by_label("Priority").select_option("stat")
    page.get_by_role("button", name="Submit Order").click()
    accession = page.locator("#accession-number").inner_text()  # the form turns into the success panel
    page.get_by_role("link", name="View order").click()
    expect(page.locator("#order-indication")).to_have_text(SCRIPT)
    patient_link = page.locator("#order-main a[href^='/patients/']:not([href*='tab='])").first.get_attribute("href")

    for url in (f"/imaging/orders?q={accession}", "/dashboard", f"/visits/{visit_id}", f"{patient_link}?tab=imaging"):
        page.goto(url)
        row = page.locator("tr", has_text=accession).first
        expect(row.locator(".order-indication")).to_have_text(SCRIPT)
    assert alerts == []
    assert page.evaluate("document.querySelectorAll('script:not([src])').length") == 0
