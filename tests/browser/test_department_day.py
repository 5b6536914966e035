"""Chromium at the sizes of a department's screens: the technician's tablet (768x1024 and
1024x768), the wall (1920x1080 and 1280x720, 40 more open STAT and urgent orders than the demo
has) and a desktop (1440x900). Screenshots of each land in the test's temporary directory (and
in docs/screenshots through `make screenshots`)."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.browser.day_data import add_day_orders
from tests.browser.live import open_menu, sign_in, start_live_server

pytestmark = pytest.mark.browser

TABLETS = [{"width": 768, "height": 1024}, {"width": 1024, "height": 768}]
WALLS = [{"width": 1920, "height": 1080}, {"width": 1280, "height": 720}]
DESKTOP = {"width": 1440, "height": 900}

# Every visible control of the page that is shorter than 44 px (name, height).
SMALL_CONTROLS = """() => Array.from(document.querySelectorAll(
    "a.btn, a.nav-link, a.app-brand, button, input:not([type=hidden]), select, textarea"))
  .filter(el => el.offsetParent !== null && el.getBoundingClientRect().height > 0)
  .map(el => [(el.id || el.textContent.trim() || el.name || el.tagName).slice(0, 40), el.getBoundingClientRect().height])
  .filter(([, height]) => height < 44)"""


@pytest.fixture(scope="module")
def day_server(tmp_path_factory):
    server = start_live_server(tmp_path_factory.mktemp("department-day"))
    server.extra["data"] = add_day_orders(server, wall_orders=40)
    yield server
    server.stop()


@pytest.fixture
def open_page(browser, day_server):
    contexts = []

    def factory(viewport: dict, **options):
        context = browser.new_context(base_url=day_server.url, viewport=viewport, **options)
        context.set_default_timeout(20_000)
        contexts.append(context)
        return context.new_page()

    yield factory
    for context in contexts:
        context.close()


def _serious(page) -> list[str]:
    """axe-core's serious and critical violations on the page."""
    return [f"{v['id']}: {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in Axe().run(page).response["violations"] if v.get("impact") in ("serious", "critical")]


def _size(viewport: dict) -> str:
    return f"{viewport['width']}x{viewport['height']}"


@pytest.mark.parametrize("viewport", TABLETS, ids=_size)
def test_tablet_worklist(open_page, day_server, viewport, tmp_path):
    data = day_server.extra["data"]
    page = open_page(viewport, has_touch=True)
    sign_in(page, day_server.url, "technician")
    expect(page).to_have_url(re.compile(r"/imaging/worklist$"))  # technicians land on their list
    page.wait_for_load_state("load")

    # The sidebar is a menu button here; the navigation opens from it and marks this page.
    menu = page.locator("#app-menu-button")
    expect(menu).to_be_visible()
    expect(page.locator("#nav-worklist")).to_be_hidden()
    assert page.evaluate(SMALL_CONTROLS) == []
    page.screenshot(path=str(tmp_path / f"tablet-{_size(viewport)}.png"), full_page=False)
    open_menu(page)
    expect(page.locator("#nav-worklist")).to_be_visible()
    expect(page.locator("#nav-worklist")).to_have_attribute("aria-current", "page")
    assert page.evaluate(SMALL_CONTROLS) == []
    page.screenshot(path=str(tmp_path / f"tablet-menu-{_size(viewport)}.png"), full_page=False)
    assert _serious(page) == []
    page.keyboard.press("Escape")
    expect(page.locator("#nav-worklist")).to_be_hidden()

    # Overdue first and marked; the card names the scanner, the room, the patient's age, birth date and sex.
    first = page.locator("#worklist-list > li").first
    expect(first).to_have_attribute("data-overdue", "true")
    expect(first).to_contain_text(data["overdue"])
    expect(first.locator(".worklist-overdue")).to_contain_text("Overdue")
    expect(first.locator(".worklist-station")).to_have_text("Scanner DX_ROOM1 · X-ray room 1")
    expect(first.locator(".worklist-patient")).to_have_text(
        re.compile(r"^\S.*, \S.* · (Female|Male) · \d+ y, born \d{4}-\d\d-\d\d · MRN\d+$"))

    # The station filter, remembered by the tablet.
    page.locator("#worklist-station-DX_ROOM1").click()
    expect(page.locator("#worklist-station-DX_ROOM1")).to_have_attribute("aria-current", "true")
    expect(page.locator("#worklist-list .worklist-station").filter(has_not_text="DX_ROOM1")).to_have_count(0)
    page.goto("/imaging/worklist")
    expect(page.locator("#worklist-station-DX_ROOM1")).to_have_attribute("aria-current", "true")

    # Tomorrow: booked time order, STAT before routine at the same time.
    page.locator("#worklist-next-day").click()
    expect(page).to_have_url(re.compile(rf"day={data['tomorrow']}"))
    accessions = page.locator("#worklist-list .accession-inline").all_inner_texts()
    assert accessions.index(data["ten_stat"]) < accessions.index(data["ten_routine"])
    assert data["overdue"] not in accessions
    assert page.evaluate(SMALL_CONTROLS) == []
    page.locator("#worklist-previous-day").click()
    expect(page.locator("#worklist-list > li").first).to_contain_text(data["overdue"])

    # The order page reached from the tablet: its controls too (Start scan, Sign out in the menu).
    page.locator("#worklist-list > li").first.get_by_role("link", name="Details").click()
    page.wait_for_url(re.compile(r"/imaging/orders/[0-9a-f-]{36}$"))
    page.wait_for_load_state("load")
    expect(page.locator("#app-menu-button")).to_be_visible()  # app.js ran: every stylesheet before it applies
    expect(page.get_by_role("button", name="Start scan")).to_be_visible()
    assert page.evaluate(SMALL_CONTROLS) == []
    open_menu(page)
    assert page.evaluate(SMALL_CONTROLS) == []


WALL_CHECKS = """() => {
  const rows = Array.from(document.querySelectorAll(".wall-list tbody tr")).filter(r => !r.hidden);
  const lineHeight = 28 * 1.25;
  const texts = [];
  const walker = document.createTreeWalker(document.getElementById("main"), NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!walker.currentNode.textContent.trim() || !el.offsetParent || el.closest(".visually-hidden")) continue;
    texts.push([el.textContent.trim().slice(0, 30), parseFloat(getComputedStyle(el).fontSize)]);
  }
  const footer = document.querySelector(".wall-footer").getBoundingClientRect();
  return {
    scroll: [document.scrollingElement.scrollHeight, innerHeight, document.scrollingElement.scrollWidth, innerWidth],
    rows: rows.length,
    // One line per row, but for an exam name the full-HD waiting list lets take two (static/wall.css).
    wrapped: rows.filter(r => r.getBoundingClientRect().height > lineHeight * 1.6)
      .filter(r => !r.querySelector(".wall-exam") || getComputedStyle(r.querySelector(".wall-exam")).whiteSpace !== "normal")
      .map(r => r.textContent.slice(0, 40)),
    truncated: Array.from(document.querySelectorAll(".wall-list tr:not([hidden]) > :not(.wall-exam)"))
      .filter(c => c.offsetParent && c.scrollWidth > c.clientWidth + 1).map(c => c.textContent.trim()),
    cut: Array.from(document.querySelectorAll(".wall-fit")).filter(b => b.scrollHeight > b.clientHeight + 1).length,
    small: texts.filter(([, size]) => size < 28),
    footerBottom: footer.bottom,
  };
}"""


@pytest.mark.parametrize("viewport", WALLS, ids=_size)
def test_wall_fits_the_screen(open_page, day_server, viewport, tmp_path):
    page = open_page(viewport)
    sign_in(page, day_server.url, "wall")
    expect(page).to_have_url(re.compile(r"/dashboard/wall$"))  # the display lands on the wall
    page.wait_for_selector("body.live-up")
    checks = page.evaluate(WALL_CHECKS)
    height, inner_height, width, inner_width = checks["scroll"]
    assert height <= inner_height and width <= inner_width, checks["scroll"]
    assert checks["footerBottom"] <= inner_height
    assert checks["rows"] >= 6 and checks["wrapped"] == [] and checks["cut"] == 0, checks
    assert checks["truncated"] == [], "only the exam may be cut short"
    assert checks["small"] == [], checks["small"]
    more = page.locator("#wall-stat-more")
    expect(more).to_have_text(re.compile(r"^\+\d+ more$"))
    shown = page.locator("#wall-stat-list tbody tr:not([hidden])").count()
    total = int(page.locator("#wall-stat-count").inner_text())
    assert total >= 40 and int(more.inner_text().split()[0][1:]) == total - shown
    expect(page.locator("#wall-clock")).to_have_text(re.compile(r"^\d\d:\d\d$"))
    expect(page.locator("#wall-stale")).to_be_hidden()
    page.screenshot(path=str(tmp_path / f"wall-{_size(viewport)}.png"))
    assert _serious(page) == []

    # The stream is down: the whole screen dims and says how old the figures are.
    down = open_page(viewport)
    sign_in(down, day_server.url, "wall")
    # The page's own connection (without a SharedWorker the tab holds it), so that the route sees it.
    down.add_init_script("Object.defineProperty(window, 'SharedWorker', {value: undefined, configurable: true});")
    down.route(re.compile(r".*/stream.*"), lambda route: route.abort())
    down.reload()
    down.wait_for_selector("body.live-down")
    expect(down.locator("#wall-stale")).to_be_visible()
    expect(down.locator("#wall-stale")).to_contain_text(re.compile(r"last updated (less than 1 min|\d+ min) ago"))
    assert float(down.evaluate("getComputedStyle(document.querySelector('.wall-columns')).opacity")) < 0.5
    down.screenshot(path=str(tmp_path / f"wall-down-{_size(viewport)}.png"))


def test_desktop_sidebar_marks_the_page(open_page, day_server, tmp_path):
    page = open_page(DESKTOP)
    sign_in(page, day_server.url, "scheduler")
    expect(page).to_have_url(re.compile(r"/dashboard/to-schedule$"))  # schedulers land on their queue
    expect(page.locator("#app-menu-button")).to_be_hidden()
    expect(page.locator("#nav-to-schedule")).to_have_attribute("aria-current", "page")
    expect(page.locator("#nav-to-schedule")).to_have_class(re.compile(r"\bactive\b"))
    expect(page.locator("#app-sidebar .nav-link.active")).to_have_count(1)
    priorities = page.locator("#queue-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.priority)")
    rank = {"stat": 0, "urgent": 1, "routine": 2}
    assert [rank[p] for p in priorities] == sorted(rank[p] for p in priorities)
    page.screenshot(path=str(tmp_path / "queue-to-schedule-1440x900.png"))
    assert _serious(page) == []
    page.locator("#nav-to-report").click()
    expect(page.locator("#nav-to-report")).to_have_attribute("aria-current", "page")
    expect(page.locator("#app-sidebar .nav-link.active")).to_have_count(1)
    page.locator("#nav-orders").click()
    expect(page.locator("#nav-orders")).to_have_attribute("aria-current", "page")


def test_wall_shows_exam_names_and_turnaround_figures_whole_at_1920(open_page, day_server, tmp_path):
    """Issue 26 #18: at 1920x1080 the exam names were cut to "X-Ra…" and a long turnaround figure
    was clipped at the panel's edge; a figure must show whole, its label may give way."""
    page = open_page({"width": 1920, "height": 1080})
    sign_in(page, day_server.url, "wall")
    page.wait_for_selector("body.live-up")
    cut = page.evaluate("""() => Array.from(document.querySelectorAll('#wall-stat-list td.wall-exam'))
        .filter(c => c.offsetParent && c.scrollWidth > c.clientWidth + 1).map(c => c.textContent.trim())""")
    assert cut == [], cut
    page.evaluate("""() => document.querySelectorAll('.wall-table td').forEach(td => { td.textContent = '123 d 23 h'; })""")
    clipped = page.evaluate("""() => Array.from(document.querySelectorAll('.wall-table td')).filter(td => {
        const panel = td.closest('.wall-panel').getBoundingClientRect();
        return td.getBoundingClientRect().right > panel.right - 8; }).length""")
    assert clipped == 0
    page.screenshot(path=str(tmp_path / "wall-1920-long-figures.png"))
