"""The order form with the keyboard alone (issue 26, item 15): ArrowDown on a closed select changes
its value, htmx re-renders the dependent choices, and the focus must stay on the select the user
is on. It used to jump back to Modality, so the next ArrowDown turned an X-ray into a CT."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.live import settled

pytestmark = pytest.mark.browser


def _focused_id(page) -> str:
    return page.evaluate("document.activeElement ? document.activeElement.id : ''")


def _until(page, condition: str, seconds: float = 15) -> None:
    """Poll ``condition`` (the page's CSP forbids the eval that wait_for_function uses)."""
    for _ in range(int(seconds * 10)):
        if page.evaluate(condition):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"not true after {seconds} s: {condition}")


def _press_and_settle(page, key: str, field_id: str) -> None:
    """Press ``key`` on the focused select and wait for htmx to re-render the choices it drives."""
    page.evaluate("window.__settled = false; document.addEventListener('htmx:afterSettle',"
                  " function () { window.__settled = true; }, {once: true})")
    page.keyboard.press(key)
    _until(page, "window.__settled === true")
    expect(page.locator(f"#{field_id}")).to_be_visible()


def test_arrow_keys_on_body_part_and_procedure_keep_the_focus_and_the_modality(page, live_server, sign_in):
    sign_in(page, "doctor")
    visit_id = live_server.query("SELECT id FROM visits ORDER BY visit_date DESC LIMIT 1")[0][0]
    page.goto(f"/visits/{uuid.UUID(visit_id)}")
    page.get_by_role("link", name="Order Imaging").focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#app-dialog")
    expect(dialog).to_have_attribute("open", "")
    expect(page.locator("#modality")).to_be_focused()

    # Modality: step down the list to X-ray with the keyboard.
    options = page.locator("#modality option").evaluate_all("os => os.map(o => o.value)")
    for _ in range(options.index("XRAY")):
        _press_and_settle(page, "ArrowDown", "modality")
        expect(page.locator("#modality")).to_be_focused()
    expect(page.locator("#modality")).to_have_value("XRAY")

    # Body part: every ArrowDown changes the body part, never the modality.
    page.keyboard.press("Tab")
    expect(page.locator("#body_part")).to_be_focused()
    seen = []
    for _ in range(3):
        _press_and_settle(page, "ArrowDown", "body_part")
        assert _focused_id(page) == "body_part"
        seen.append(page.locator("#body_part").input_value())
        expect(page.locator("#modality")).to_have_value("XRAY")
    assert len(set(seen)) == 3 and "" not in seen, seen

    # Back to the chest, then the procedure: the focus stays on it too.
    page.keyboard.press("Home")
    page.wait_for_timeout(200)
    settled(page)
    page.locator("#body_part").select_option("CHEST")
    page.locator("#procedure_code option[value='71046']").wait_for(state="attached")
    settled(page)  # the chest's choices wired: a key pressed before would reach a select htmx ignores
    page.locator("#procedure_code").focus()
    _press_and_settle(page, "ArrowDown", "procedure_code")
    assert _focused_id(page) == "procedure_code"
    first = page.locator("#procedure_code").input_value()
    assert first
    _press_and_settle(page, "ArrowDown", "procedure_code")
    assert _focused_id(page) == "procedure_code"
    assert page.locator("#procedure_code").input_value() != first
    expect(page.locator("#modality")).to_have_value("XRAY")
    expect(page.locator("#body_part")).to_have_value("CHEST")
