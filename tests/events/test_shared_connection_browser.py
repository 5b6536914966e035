"""Chromium: one /stream connection per browser, whatever the number of tabs (issue 22).

Chromium allows 6 connections per host over HTTP/1.1: with a stream per tab, 6 tabs silenced the
browser (no order form, no critical banner). The tabs now share one connection: a SharedWorker
holds it (static/live-worker.js), or, where SharedWorker is missing, the tab holding a Web Lock
relays it over a BroadcastChannel and another tab takes over when it closes (static/live-share.js).
The number of open streams is counted on the server: the account's stream slots in Redis
(webapp/events/slots.py)."""

from __future__ import annotations

import os
import time

import pytest

from tests.events.livestack import wait_until
from webapp.events import slots
from webapp.extensions import db
from webapp.imaging import queries, services

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]
PASSWORD = "password-123"
TABS = 8
# The page notes (same machine clock as the test) when the selector first matches.
WATCH = """selector => new Promise(resolve => {
    window.__seenAt = null;
    const seen = () => { if (document.querySelector(selector)) { window.__seenAt = Date.now(); return true; } };
    if (!seen()) { new MutationObserver((_, observer) => seen() && observer.disconnect())
        .observe(document.body, {subtree: true, childList: true, attributes: true}); }
    resolve(true); })"""
NO_SHARED_WORKER = "Object.defineProperty(window, 'SharedWorker', {value: undefined, configurable: true});"


def _open_streams(app, user) -> int:
    """Streams the account holds open, on every worker (their leases in Redis)."""
    key = slots.slots_key(app.config["SSE_CHANNEL"], user.id)
    client = slots.redis.Redis.from_url(app.config["REDIS_URL"])
    try:
        return client.zcount(key, int(time.time() * 1000), "+inf")
    finally:
        client.close()


def _sign_critical(app, radiologist, order_id, note: str) -> float:
    """The radiologist signs with a critical finding (through the services, as the report editor
    does); returns the moment of the commit in ms since the epoch."""
    with app.app_context():
        current = queries.get_order(order_id, for_update=True)
        services.report_order(db.session.merge(radiologist), current, findings="Bleed.", impression="Bleed.",
                              critical=True, critical_note=note)
        db.session.commit()
    return time.time() * 1000


def _tabs(browser, server, doctor, visit, *, init_script: str | None = None):
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    if init_script:
        context.add_init_script(init_script)
    first = context.new_page()
    first.goto(f"{server.url}/login")
    first.fill("#username", doctor.username)
    first.fill("#password", PASSWORD)
    first.click("button[type=submit]")
    first.wait_for_load_state()
    paths = [f"/visits/{visit.id}", "/dashboard", "/imaging/orders", f"/patients/{visit.patient_id}",
             "/dashboard/to-schedule", "/imaging/schedule", "/dashboard/to-report", "/imaging/orders?status=ordered"]
    pages = [first]
    first.goto(f"{server.url}{paths[0]}")
    first.wait_for_selector("body.live-up", timeout=15_000)
    for path in paths[1:TABS]:
        page = context.new_page()
        page.goto(f"{server.url}{path}")
        pages.append(page)
    for page in pages:
        page.wait_for_selector("body.live-up", timeout=15_000)
        page.evaluate("window.__sameDocument = true")
    return context, pages


def _banner_everywhere(pages, signed_at: float, accession: str, limit: float) -> list[float]:
    for page in pages:
        assert wait_until(lambda page=page: page.evaluate("window.__seenAt"), 10, interval=0.1), page.url
    elapsed = [(page.evaluate("window.__seenAt") - signed_at) / 1000 for page in pages]
    print("critical banner after", ", ".join(f"{value:.2f}" for value in elapsed), "s")
    for page in pages:
        assert accession in page.text_content("#critical-banner")
        assert page.evaluate("window.__sameDocument")
    # The issue asks for "within a second": held to that on a quiet machine; a loaded one (other
    # jobs on the 2 cores) gets headroom.
    quiet = os.getloadavg()[0] <= (os.cpu_count() or 2)
    assert max(elapsed) < (1.0 if quiet else limit), (elapsed, os.getloadavg())
    return elapsed


@pytest.fixture
def department(make_user, make_visit, make_order):
    doctor, radiologist = make_user("doctor"), make_user("radiologist")
    visit = make_visit()
    first = make_order("completed", visit=visit, doctor=doctor)
    second = make_order("completed", visit=visit, doctor=doctor)
    return doctor, radiologist, visit, first, second


@pytest.mark.browser
@pytest.mark.sqlite_only
def test_eight_tabs_share_one_stream_through_the_shared_worker(chromium, app, live_server_factory, department):

    doctor, radiologist, visit, order, _ = department
    server = live_server_factory(workers=2)
    with chromium(ARGS) as browser:
        context, pages = _tabs(browser, server, doctor, visit)
        assert all(page.evaluate("typeof SharedWorker") == "function" for page in pages)
        # One connection for the eight tabs, counted on the server.
        assert wait_until(lambda: _open_streams(app, doctor) == 1, 5), _open_streams(app, doctor)
        time.sleep(1.5)
        assert _open_streams(app, doctor) == 1

        for page in pages:
            page.evaluate(WATCH, "#critical-banner .critical-alert")
        signed_at = _sign_critical(app, radiologist, order.id, "Acute subdural haematoma")
        _banner_everywhere(pages, signed_at, order.accession_number, limit=3.0)

        # The browser still has connections for everything else: the order form opens.
        visit_page = pages[0]
        visit_page.get_by_role("link", name="Order Imaging").click()
        visit_page.locator("#app-dialog[open] #order-form").wait_for(timeout=10_000)

        # A ninth tab joins the open connection and is told what happened after its page was made.
        late = context.new_page()
        late.goto(f"{server.url}/imaging/orders/{order.id}")
        late.wait_for_selector("body.live-up", timeout=15_000)
        assert _open_streams(app, doctor) == 1
        late.evaluate(WATCH, f'#order-{order.id}-status[data-status="reported"]')
        assert late.evaluate("window.__seenAt")  # already reported when the page was made

        # Acknowledged in one tab: the banner leaves every tab.
        pages[1].click("#critical-banner button:has-text('Acknowledge')")
        for page in pages:
            page.wait_for_selector("#critical-banner .critical-alert", state="detached", timeout=10_000)

        # Closing every tab closes the connection: its slot is given back.
        context.close()
        assert wait_until(lambda: _open_streams(app, doctor) == 0, 10), _open_streams(app, doctor)
        browser.close()


@pytest.mark.browser
@pytest.mark.sqlite_only
def test_without_shared_worker_a_leader_tab_relays_and_another_takes_over(chromium, app, live_server_factory, department):
    doctor, radiologist, visit, first, second = department
    server = live_server_factory(workers=2)
    with chromium(ARGS) as browser:
        context, pages = _tabs(browser, server, doctor, visit, init_script=NO_SHARED_WORKER)
        assert all(page.evaluate("typeof SharedWorker") == "undefined" for page in pages)
        assert wait_until(lambda: _open_streams(app, doctor) == 1, 5), _open_streams(app, doctor)
        time.sleep(1.5)
        assert _open_streams(app, doctor) == 1

        for page in pages:
            page.evaluate(WATCH, "#critical-banner .critical-alert")
        signed_at = _sign_critical(app, radiologist, first.id, "Tension pneumothorax")
        _banner_everywhere(pages, signed_at, first.accession_number, limit=3.0)
        pages[0].get_by_role("link", name="Order Imaging").click()
        pages[0].locator("#app-dialog[open] #order-form").wait_for(timeout=10_000)

        # The leader (the first tab, which took the lock) closes: another tab takes over, still one
        # stream, and the next critical result reaches every remaining tab.
        pages[0].close()
        rest = pages[1:]
        time.sleep(2)
        assert wait_until(lambda: _open_streams(app, doctor) == 1, 10), _open_streams(app, doctor)
        for page in rest:
            page.wait_for_selector("body.live-up", timeout=15_000)
            page.evaluate(WATCH, "#critical-banner .critical-alert + .critical-alert")
        signed_at = _sign_critical(app, radiologist, second.id, "Free air under the diaphragm")
        _banner_everywhere(rest, signed_at, second.accession_number, limit=3.0)
        assert _open_streams(app, doctor) == 1
        context.close()
        browser.close()


@pytest.mark.sqlite_only
def test_each_signed_in_session_gets_its_own_live_scope(app, client, make_user):
    """Tabs share a connection only within one sign-in: another user (or a new sign-in) in the same
    browser never hears events through a stream opened for someone else."""
    from webapp.events import live_scope

    doctor, wall = make_user("doctor"), make_user("display")
    scopes = []
    for user, login_at in ((doctor, 100), (doctor, 200), (wall, 100)):
        with app.test_request_context():
            from flask import session
            from flask_login import login_user

            login_user(user)
            session["login_at"] = login_at
            scopes.append(live_scope())
    assert len(set(scopes)) == 3 and all(len(scope) == 24 for scope in scopes)
    with app.test_request_context():
        assert live_scope() == ""
