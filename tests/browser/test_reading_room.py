"""The reading room in a browser (issue 24): two tabs on one draft, a reload after typing, two
radiologists racing for one study. A real server (gunicorn) and Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.live import completed_order, create_user

DESKTOP = {"width": 1440, "height": 900}
LAPTOP = {"width": 1280, "height": 720}


def _draft(live_server, order_id: str):
    rows = live_server.query("SELECT findings, version FROM report_drafts WHERE order_id = ?", order_id.replace("-", ""))
    return rows[0] if rows else None


@pytest.fixture(scope="module")
def second_radiologist(live_server):
    return create_user(live_server, "radiologist2", "radiologist")


@pytest.fixture(scope="module")
def trainee(live_server):
    return create_user(live_server, "trainee1", "radiologist", "--trainee")


def tab_to(page, selector: str, limit: int = 80) -> None:
    """Press Tab until ``selector`` has the focus (keyboard only), or fail."""
    for _ in range(limit):
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    pytest.fail(f"{selector} is not reachable with Tab")


def test_two_tabs_on_one_draft_the_second_save_is_refused_and_both_texts_shown(new_page, live_server, sign_in):
    order_id = completed_order(live_server)
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
    order_id = completed_order(live_server)
    page = new_page(LAPTOP)
    sign_in(page, "radiologist")
    page.goto(f"/imaging/orders/{order_id}/report")
    page.get_by_label("Impression").click()
    page.keyboard.type("Typed just before the reload.")
    page.on("dialog", lambda dialog: dialog.accept())  # "leave the page?" (beforeunload)
    page.reload()
    expect(page.get_by_label("Impression")).to_have_value("Typed just before the reload.")


def test_leaving_with_unsaved_text_asks_first(new_page, live_server, sign_in):
    order_id = completed_order(live_server)
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
    order_id = completed_order(live_server)
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


@pytest.mark.parametrize("viewport", [DESKTOP, LAPTOP], ids=["1440x900", "1280x720"])
def test_a_trainees_preliminary_seen_by_the_ordering_doctor_then_co_signed_keyboard_only(
        new_page, live_server, sign_in, trainee, viewport):
    order_id = completed_order(live_server)
    # The trainee writes and signs with the keyboard alone, starting from the queue.
    page = new_page(viewport)
    sign_in(page, trainee)
    page.goto(f"/imaging/orders/{order_id}/report")
    tab_to(page, "#findings")
    page.keyboard.type("Patchy opacity in the right lower lobe.")
    tab_to(page, "#impression")
    page.keyboard.type("Right lower lobe pneumonia.")
    tab_to(page, "#sign-report")
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    status = live_server.query("SELECT status FROM imaging_orders WHERE id = ?", order_id.replace("-", ""))
    assert status == [("completed",)]
    # The ordering doctor sees it, marked preliminary.
    doctor = new_page(viewport)
    sign_in(doctor, "doctor")
    doctor.goto(f"/imaging/orders/{order_id}")
    expect(doctor.locator("#order-preliminary-badge")).to_contain_text("Preliminary")
    expect(doctor.locator("#report-body")).to_contain_text("Right lower lobe pneumonia.")
    # The attending co-signs with the keyboard alone, changing the impression.
    attending = new_page(viewport)
    sign_in(attending, "radiologist")
    attending.goto(f"/imaging/orders/{order_id}")
    tab_to(attending, "#open-cosign")
    attending.keyboard.press("Enter")
    attending.wait_for_url(f"**/imaging/orders/{order_id}/report")
    tab_to(attending, "#impression")
    attending.keyboard.press("Control+A")
    attending.keyboard.type("Right lower lobe pneumonia with a small effusion.")
    tab_to(attending, "#cosign-report")
    attending.keyboard.press("Enter")
    attending.wait_for_url(f"**/imaging/orders/{order_id}")
    status = live_server.query("SELECT status FROM imaging_orders WHERE id = ?", order_id.replace("-", ""))
    assert status == [("reported",)]
    doctor.reload()
    expect(doctor.locator("#impression-changed")).to_contain_text("Right lower lobe pneumonia.")
    expect(doctor.locator("#order-preliminary-badge")).to_have_count(0)


@pytest.mark.parametrize("viewport", [DESKTOP, LAPTOP], ids=["1440x900", "1280x720"])
def test_the_queue_and_the_editor_keyboard_only(new_page, live_server, sign_in, viewport):
    order_id = completed_order(live_server)
    page = new_page(viewport)
    sign_in(page, "radiologist")
    page.goto("/dashboard/to-report")
    tab_to(page, f"#queue-row-{order_id} .queue-reader a", limit=200)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/imaging/orders/{order_id}/report")
    expect(page.locator("#claim-banner")).to_contain_text("You are reading this study")
    tab_to(page, "#findings")
    page.keyboard.type("Clear lungs.")
    tab_to(page, "#save-draft")
    page.keyboard.press("Enter")
    expect(page.locator("#draft-status")).to_contain_text("Draft saved")
    expect(page.get_by_label("Findings")).to_have_value("Clear lungs.")
