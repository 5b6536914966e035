"""Chromium: a doctor's hidden tab raises a browser notification for a new critical result and
again when it is escalated (static/critical-notify.js); a visible tab only shows the banner.
Permission is asked once, at the first click, and not again after a reload.

The page's ``Notification`` is a recorder (the test cannot click the browser's permission prompt)
and ``document.visibilityState`` is set by the test (headless Chromium's tabs are all "visible").
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.events.livestack import wait_until
from webapp.extensions import db
from webapp.reporting.models import CriticalResult

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]
RECORDER = """
(() => {
  Object.defineProperty(document, "visibilityState", {get: () => window.__visibility || "visible"});
  window.__notes = [];
  window.__asked = 0;
  let permission = localStorage.getItem("test-permission") || "default";
  window.Notification = class {
    constructor(title, options) { window.__notes.push({title, body: options.body, tag: options.tag}); }
    static get permission() { return permission; }
    static requestPermission() {
      window.__asked += 1; permission = "granted"; localStorage.setItem("test-permission", "granted");
      return Promise.resolve(permission);
    }
    close() {}
  };
})();
"""


def _sign_critical(client, make_order, doctor, radiologist, note):
    order = make_order("completed", doctor=doctor)
    token = client.post("/api/v1/auth/token", json={"username": radiologist.username, "password": "password-123"})
    headers = {"Authorization": f"Bearer {token.json['access_token']}"}
    url = f"/api/v1/imaging/orders/{order.id}/report"
    assert client.put(url, json={"findings": "Pneumothorax.", "impression": "Pneumothorax."},
                      headers=headers).status_code == 200
    signed = client.post(f"{url}/sign", json={"critical": True, "critical_note": note}, headers=headers)
    assert signed.status_code == 200, signed.json
    return order


@pytest.mark.browser
@pytest.mark.sqlite_only
def test_hidden_tab_notifies_new_and_escalated_critical_results(chromium, app, client, live_server_factory, make_user,
                                                                  make_order):
    from webapp.reporting.escalation import escalate_due

    doctor, radiologist = make_user("doctor"), make_user("radiologist")
    server = live_server_factory(workers=1)
    with chromium(ARGS) as browser:
        context = browser.new_context()
        context.add_init_script(RECORDER)
        page = context.new_page()
        page.goto(f"{server.url}/login")
        page.fill("#username", doctor.username)
        page.fill("#password", "password-123")
        page.click("button[type=submit]")
        page.wait_for_load_state()
        page.wait_for_selector("body.live-up", timeout=10_000)

        # Asked once, at the first click; not at the second, nor after a reload.
        assert page.evaluate("window.__asked") == 0
        page.click("h1")
        page.click("h1")
        assert page.evaluate("window.__asked") == 1
        page.reload()
        page.wait_for_selector("body.live-up", timeout=10_000)
        page.click("h1")
        assert page.evaluate("window.__asked") == 0  # a new page: the count restarts, nothing asked

        # Visible: the banner, no notification.
        first = _sign_critical(client, make_order, doctor, radiologist, "Tension pneumothorax")
        page.wait_for_selector(f"#critical-banner [data-accession='{first.accession_number}']", timeout=10_000)
        assert page.evaluate("window.__notes") == []

        # Hidden: the escalation of that one notifies, then a new one does.
        page.evaluate("window.__visibility = 'hidden'")
        with app.app_context():
            result = db.session.scalars(select(CriticalResult).where(CriticalResult.order_id == first.id)).one()
            later = result.raised_at + timedelta(minutes=app.config["CRITICAL_ACK_MINUTES"], seconds=1)
            assert escalate_due(later) == [result.id]
        assert wait_until(lambda: len(page.evaluate("window.__notes")) == 1, 10, interval=0.1)
        second = _sign_critical(client, make_order, doctor, radiologist, "Free air")
        assert wait_until(lambda: len(page.evaluate("window.__notes")) == 2, 10, interval=0.1)
        notes = page.evaluate("window.__notes")
        assert notes[0]["title"] == "Critical result escalated" and first.accession_number in notes[0]["body"]
        assert notes[1]["title"] == "Critical result" and second.accession_number in notes[1]["body"]
        assert all(first.patient.last_name not in note["body"] for note in notes), "no patient name on a lock screen"
        assert page.locator(f"#critical-{result.id} .critical-escalated").count() == 1
        browser.close()
