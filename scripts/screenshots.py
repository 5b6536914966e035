"""Screenshots of the main pages for docs/web-pages.md: `make screenshots` writes docs/screenshots/*.png.

Starts the real server (gunicorn, temporary SQLite with demo data) and drives Debian's Chromium.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from scripts.screenshots_reading_room import shoot_reading_room  # noqa: E402
from scripts.screenshots_schedule import shoot_booking, shoot_schedule  # noqa: E402
from tests.browser.day_data import add_day_orders  # noqa: E402
from tests.browser.live import launch_chromium, open_menu, sign_in, sign_out, start_live_server  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 860}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="screenshots-") as tmp:
        # Every signed report offered for peer review, so that its page has something to show.
        server = start_live_server(Path(tmp) / "server", {"PEER_REVIEW_PERCENT": "100"})
        try:
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                context = browser.new_context(base_url=server.url, viewport=VIEWPORT)
                page = context.new_page()
                shoot(page, server.url)
                shoot_department_day(browser, server)
                shoot_schedule(browser, server.url, OUT)
                shoot_reading_room(browser, server, OUT)
                shoot_booking(browser, server.url, OUT)
                browser.close()
        finally:
            server.stop()
    for path in sorted(OUT.glob("*.png")):
        print(path.relative_to(ROOT))


def save(page, name: str, full_page: bool = True) -> None:
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=full_page)


def shoot(page, url: str) -> None:
    page.goto(f"{url}/login")
    save(page, "01-login", full_page=False)
    sign_in(page, url, "doctor")
    save(page, "02-dashboard")
    page.goto(f"{url}/imaging/orders")
    save(page, "03-order-list", full_page=False)
    page.goto(f"{url}/patients?q=Garcia")
    page.get_by_role("link", name="Garcia, Maria").click()
    page.get_by_role("link", name="Imaging History").click()
    page.wait_for_selector("#patient-orders")
    save(page, "04-patient-imaging-history")
    page.get_by_role("link", name="Overview and visits").click()
    page.locator("#patient-visits a").first.click()
    page.wait_for_selector("#visit-orders")
    save(page, "05-visit")
    page.get_by_role("link", name="Order Imaging").click()
    page.wait_for_selector("#app-dialog[open]")
    page.get_by_label("Modality").select_option("XRAY")
    page.locator("#body_part option[value='HEAD']").wait_for(state="detached")
    page.get_by_label("Body part").select_option("CHEST")
    page.wait_for_selector("#procedure_code option[value='71046']", state="attached")
    page.get_by_label("Procedure (CPT code)").select_option("71046")
    page.get_by_label("Clinical indication").fill("Suspected pneumonia")
    save(page, "06-order-form-dialog", full_page=False)
    page.get_by_role("button", name="Submit Order").click()
    page.wait_for_selector("#dialog-body .created-panel")
    save(page, "07-order-created", full_page=False)
    accession = page.locator("#dialog-body #accession-number").inner_text()
    page.get_by_role("link", name="Close").click()
    sign_out(page)
    sign_in(page, url, "scheduler")
    page.goto(f"{url}/imaging/orders?q={accession}")
    page.get_by_role("link", name=accession).click()
    page.wait_for_selector("#action-schedule")
    save(page, "08-order-detail-scheduler")
    page.get_by_role("button", name="Schedule").click()
    page.wait_for_selector("#order-main [data-status='scheduled']")
    save(page, "09-order-scheduled", full_page=False)
    order_url = page.url
    sign_out(page)
    sign_in(page, url, "doctor")
    page.goto(order_url)
    page.get_by_role("link", name="Edit order").click()
    page.wait_for_selector("#app-dialog[open] #order-form")
    page.get_by_label("Body part").select_option("ABDOMEN")
    page.locator("#procedure_code option[value='71046']").wait_for(state="detached")
    page.get_by_label("Procedure (CPT code)").select_option("74018")
    page.get_by_label("Priority").select_option("urgent")
    save(page, "10-order-edit-dialog", full_page=False)
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_selector("#app-dialog:not([open])", state="attached")
    page.locator("#order-timeline li", has_text="Details changed").wait_for()
    save(page, "11-order-edited")
    assert re.match(r"ACC-\d{4}-\d{5}", accession)


def shoot_department_day(browser, server) -> None:
    """The tablet (768x1024, 1024x768 with its menu open), the queues at 1440x900 and the wall at
    1920x1080 and 1280x720 (with 40 more STAT and urgent orders), live and with the stream down."""
    add_day_orders(server, wall_orders=40)

    def page_at(width: int, height: int, **options):
        context = browser.new_context(base_url=server.url, viewport={"width": width, "height": height}, **options)
        return context.new_page()

    tablet = page_at(768, 1024, has_touch=True)
    sign_in(tablet, server.url, "technician")
    tablet.wait_for_selector("#worklist-list")
    save(tablet, "12-tablet-worklist-768x1024", full_page=False)
    tablet.set_viewport_size({"width": 1024, "height": 768})
    open_menu(tablet)
    save(tablet, "13-tablet-menu-1024x768", full_page=False)
    desk = page_at(1440, 900)
    sign_in(desk, server.url, "scheduler")
    desk.wait_for_selector("#queue-table")
    save(desk, "14-queue-to-schedule-1440x900", full_page=False)
    for width, height in ((1920, 1080), (1280, 720)):
        wall = page_at(width, height)
        sign_in(wall, server.url, "wall")
        wall.wait_for_selector("body.live-up")
        save(wall, f"15-wall-{width}x{height}", full_page=False)
    wall.route(re.compile(r".*/stream.*"), lambda route: route.abort())
    wall.reload()
    wall.wait_for_selector("body.live-down")
    save(wall, "16-wall-disconnected-1280x720", full_page=False)


if __name__ == "__main__":
    main()
