"""The reading room in a browser (issue 24): two tabs on one draft, a reload after typing, two
radiologists racing for one study. A real server (gunicorn) and Chromium."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect

from tests.browser.live import ROOT

DESKTOP = {"width": 1440, "height": 900}
LAPTOP = {"width": 1280, "height": 720}


def _api(live_server, username: str, method: str, path: str, body: dict | None = None) -> dict:
    token_request = urllib.request.Request(
        f"{live_server.url}/api/v1/auth/token", method="POST", headers={"Content-Type": "application/json"},
        data=json.dumps({"username": username, "password": f"{username}-demo-2026"}).encode())
    with urllib.request.urlopen(token_request, timeout=30) as answer:
        token = json.loads(answer.read())["access_token"]
    request = urllib.request.Request(f"{live_server.url}{path}", method=method, data=json.dumps(body or {}).encode(),
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def _order(live_server) -> str:
    """A new completed chest X-ray of a demo patient, placed and scanned through the API."""
    patient_id, visit_id = live_server.query("SELECT patient_id, id FROM visits ORDER BY visit_date DESC LIMIT 1")[0]
    ids = {"patient_id": _uuid(patient_id), "visit_id": _uuid(visit_id)}
    order = _api(live_server, "doctor", "POST", "/api/v1/imaging/orders",
                 ids | {"modality": "XRAY", "body_part": "CHEST", "clinical_indication": "Cough for three weeks"})
    path = f"/api/v1/imaging/orders/{order['id']}/status"
    when = (datetime.now(timezone.utc) + timedelta(minutes=1)).isoformat()
    _api(live_server, "scheduler", "PATCH", path, {"status": "scheduled", "scheduled_date": when})
    _api(live_server, "technician", "PATCH", path, {"status": "in_progress"})
    _api(live_server, "technician", "PATCH", path, {"status": "completed"})
    return order["id"]


def _uuid(raw) -> str:
    text = raw if isinstance(raw, str) else raw.hex()
    text = text.replace("-", "")
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _draft(live_server, order_id: str):
    rows = live_server.query("SELECT findings, version FROM report_drafts WHERE order_id = ?", order_id.replace("-", ""))
    return rows[0] if rows else None


@pytest.fixture(scope="module")
def second_radiologist(live_server):
    subprocess.run([sys.executable, "-m", "flask", "users", "create", "radiologist2", "--role", "radiologist",
                    "--password", "radiologist2-demo-2026"], cwd=ROOT, env=live_server.env, check=True,
                   capture_output=True, timeout=120)
    return "radiologist2"


def test_two_tabs_on_one_draft_the_second_save_is_refused_and_both_texts_shown(new_page, live_server, sign_in):
    order_id = _order(live_server)
    tab_one = new_page(DESKTOP)
    sign_in(tab_one, "radiologist")
    tab_two = tab_one.context.new_page()
    for tab in (tab_one, tab_two):
        tab.goto(f"/imaging/orders/{order_id}/report")
        expect(tab.locator("#claim-banner")).to_contain_text("You are reading this study")
    tab_one.get_by_label("Findings").fill("Technique from tab one. Lungs clear.")
    tab_one.locator("#save-draft").click()
    expect(tab_one.locator("#draft-status")).to_contain_text("Draft saved")
    assert _draft(live_server, order_id)[0] == "Technique from tab one. Lungs clear."
    # Tab two still shows version 0: its save is refused and it shows both texts.
    tab_two.get_by_label("Findings").fill("Text typed in tab two.")
    tab_two.locator("#save-draft").click()
    conflict = tab_two.locator("#draft-conflict")
    expect(conflict).to_be_visible()
    expect(tab_two.locator("#conflict-mine")).to_contain_text("Text typed in tab two.")
    expect(tab_two.locator("#conflict-stored")).to_contain_text("Technique from tab one. Lungs clear.")
    assert _draft(live_server, order_id)[0] == "Technique from tab one. Lungs clear."
    expect(tab_two.get_by_label("Findings")).to_have_value("Text typed in tab two.")
    # Tab two keeps its text knowingly; then tab one's signature (of the version it saw) is refused.
    tab_two.locator("#keep-mine").click()
    expect(tab_two.locator("#draft-status")).to_contain_text("Draft saved")
    assert _draft(live_server, order_id)[0] == "Text typed in tab two."
    tab_one.get_by_label("Impression").fill("Normal.")
    tab_one.once("dialog", lambda dialog: dialog.accept())
    tab_one.locator("#sign-report").click()
    expect(tab_one.locator("#draft-conflict")).to_be_visible()
    status = live_server.query("SELECT status FROM imaging_orders WHERE id = ?", order_id.replace("-", ""))
    assert status == [("completed",)]


def test_a_reload_after_typing_keeps_the_text(new_page, live_server, sign_in):
    order_id = _order(live_server)
    page = new_page(LAPTOP)
    sign_in(page, "radiologist")
    page.goto(f"/imaging/orders/{order_id}/report")
    page.get_by_label("Impression").click()
    page.keyboard.type("Typed just before the reload.")
    page.on("dialog", lambda dialog: dialog.accept())  # "leave the page?" (beforeunload)
    page.reload()
    expect(page.get_by_label("Impression")).to_have_value("Typed just before the reload.")


def test_leaving_with_unsaved_text_asks_first(new_page, live_server, sign_in):
    order_id = _order(live_server)
    page = new_page(DESKTOP)
    sign_in(page, "radiologist")
    page.goto(f"/imaging/orders/{order_id}/report")
    page.get_by_label("Findings").click()
    page.keyboard.type("Not saved yet.")
    asked = []

    def dismiss(dialog):
        asked.append(dialog.type)
        dialog.dismiss()  # stay on the page

    page.on("dialog", dismiss)
    page.evaluate("() => { window.location.href = '/dashboard'; }")
    page.wait_for_timeout(1500)
    assert asked == ["beforeunload"]
    expect(page.get_by_label("Findings")).to_have_value("Not saved yet.")


def test_two_radiologists_race_for_a_study_and_one_wins(new_page, live_server, sign_in, second_radiologist):
    order_id = _order(live_server)
    first, second = new_page(DESKTOP), new_page(DESKTOP)
    sign_in(first, "radiologist")
    sign_in(second, second_radiologist)
    script = """orderId => { const token = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRFToken'];
        window.claimed = fetch(`/api/v1/imaging/orders/${orderId}/claim`,
            {method: 'POST', headers: {'X-CSRFToken': token}}).then(r => r.status); }"""
    for page in (first, second):
        page.goto("/dashboard/to-report")
    for page in (first, second):
        page.evaluate(script, order_id)
    statuses = sorted(page.evaluate("() => window.claimed") for page in (first, second))
    assert statuses == [200, 409]
    holders = live_server.query("SELECT count(*) FROM report_claims WHERE order_id = ?", order_id.replace("-", ""))
    assert holders == [(1,)]
    for page in (first, second):
        page.goto(f"/imaging/orders/{order_id}/report")
    banners = [page.locator("#claim-banner").inner_text() for page in (first, second)]
    assert sum("You are reading this study" in text for text in banners) == 1
    assert sum("Being read by" in text for text in banners) == 1
    loser = first if "Being read by" in banners[0] else second
    expect(loser.get_by_label("Findings")).to_be_disabled()
    # The queue shows who is reading it, to everyone.
    loser.goto("/dashboard/to-report")
    expect(loser.locator(f"#reader-{order_id}")).to_contain_text("Being read by")
