"""Critical results escalate past CRITICAL_ACK_MINUTES (decimals allowed): marked ``escalated_at``
once, shown on the API, dashboard and wall (counts only), and sent through the outbox to a webhook
(down at first, then up) and by e-mail (aiosmtpd as the SMTP server).

The clock is injected (``Dispatcher(clock=…)``, ``escalate_due(now)``): no test waits for minutes.
Why escalate: The Joint Commission's National Patient Safety Goal NPSG.02.03.01 asks that critical
results reach the responsible caregiver in time; ACR's Practice Parameter for Communication of
Diagnostic Imaging Findings asks for a documented escalation when the ordering doctor cannot be
reached (docs/reporting.md#escalation).
"""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from tests.hl7.peers import free_port
from tests.reporting.test_api import draft, report_url
from webapp.config import Config
from webapp.extensions import db
from webapp.imaging.models import OrderEvent
from webapp.outbox.models import OutboxMessage
from webapp.reporting.models import CriticalResult


class WebhookReceiver:
    """A small HTTP server that records each POST (path, headers, JSON); start/stop on one port."""

    def __init__(self, port: int) -> None:
        self.port, self.received, self.server = port, [], None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/critical?token=s3cret"

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((self.path, dict(self.headers), json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


class Mailbox:
    """aiosmtpd's handler: keeps every envelope."""

    def __init__(self) -> None:
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.fixture
def webhook():
    receiver = WebhookReceiver(free_port())
    yield receiver
    receiver.stop()


@pytest.fixture
def mailbox():
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    box.port = port
    yield box
    controller.stop()


@pytest.fixture
def smtp_port(mailbox):
    return mailbox.port


@pytest.fixture
def app_config(webhook, smtp_port):
    return {"CRITICAL_ACK_MINUTES": 0.05, "CRITICAL_WEBHOOK_URL": webhook.url,
            "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            "CRITICAL_NOTIFY_EMAIL": ["oncall@example.org", "chief@example.org"],
            "SMTP_FROM": "radiology@example.org", "OUTBOX_RETRY_SECONDS": 0.05, "OUTBOX_RETRY_MAX_SECONDS": 0.1,
            "OUTBOX_POLL_SECONDS": 0.05, "HL7_TIMEOUT_SECONDS": 3.0}


def raise_critical(client, make_order, people, token, note="Tension pneumothorax"):
    doctor = people("doctor")
    order = make_order("completed", doctor=doctor)
    radiologist = token(people("radiologist"))
    draft(client, radiologist, order, findings="Large pneumothorax.", impression="Pneumothorax.")
    signed = client.post(f"{report_url(order)}/sign", json={"critical": True, "critical_note": note},
                         headers=radiologist)
    assert signed.status_code == 200, signed.json
    return order, doctor


def the_result(app, order) -> CriticalResult:
    with app.app_context():
        result = db.session.scalars(select(CriticalResult).where(CriticalResult.order_id == order.id)).one()
        db.session.expunge(result)
        return result


def rows(app, channel=None):
    with app.app_context():
        statement = select(OutboxMessage).order_by(OutboxMessage.id)
        if channel:
            statement = statement.where(OutboxMessage.channel == channel)
        found = db.session.scalars(statement).all()
        db.session.expunge_all()
        return found


def test_ack_minutes_accepts_decimals_and_refuses_nonsense(monkeypatch):
    monkeypatch.setenv("CRITICAL_ACK_MINUTES", "0.05")
    assert Config().CRITICAL_ACK_MINUTES == 0.05
    for bad in ("0", "-1", "nan", "inf", "soon"):
        monkeypatch.setenv("CRITICAL_ACK_MINUTES", bad)
        with pytest.raises(ValueError, match="CRITICAL_ACK_MINUTES"):
            Config()
    monkeypatch.setenv("CRITICAL_ACK_MINUTES", "15")
    monkeypatch.setenv("CRITICAL_WEBHOOK_URL", "ftp://example.org/x")
    with pytest.raises(ValueError, match="CRITICAL_WEBHOOK_URL"):
        Config()
    monkeypatch.setenv("CRITICAL_WEBHOOK_URL", "")
    monkeypatch.setenv("SMTP_URL", "mail.example.org:25")
    with pytest.raises(ValueError, match="SMTP_URL"):
        Config()


def test_escalation_waits_for_the_deadline_and_happens_once(app, client, make_order, people, token, auth):
    """0.05 minutes = 3 s: not due 2 s after raising, due at 3 s; a second round, a second
    dispatcher and an acknowledgement afterwards change nothing more."""
    from webapp.outbox.dispatcher import Dispatcher
    from webapp.reporting.escalation import escalate_due

    order, doctor = raise_critical(client, make_order, people, token)
    raised = the_result(app, order).raised_at
    with app.app_context():
        assert escalate_due(raised + timedelta(seconds=2)) == []
    assert the_result(app, order).escalated_at is None and rows(app) == []
    listed = client.get("/api/v1/critical-results", headers=token(doctor)).json["items"]
    assert listed[0]["escalated_at"] is None

    now = raised + timedelta(seconds=3.5)
    first, second = Dispatcher(app, name="one", clock=lambda: now), Dispatcher(app, name="two", clock=lambda: now)
    with app.app_context():
        assert escalate_due(now) == [the_result(app, order).id]
    first.run_once()
    second.run_once()
    result = the_result(app, order)
    assert result.escalated_at == now and result.acknowledged_at is None
    assert [(r.channel, r.kind, r.state) for r in rows(app)] == [
        ("webhook", "critical webhook", "failed"), ("email", "critical e-mail", "sent")], "one escalation, once"
    listed = client.get("/api/v1/critical-results", headers=token(doctor)).json["items"]
    assert listed[0]["escalated_at"].startswith(now.isoformat()[:19])
    with app.app_context():
        events = db.session.scalars(select(OrderEvent).where(OrderEvent.order_id == order.id,
                                                             OrderEvent.event_type == "critical_escalated")).all()
        assert len(events) == 1
        assert events[0].changes == {"critical_result": result.id, "note": "Tension pneumothorax", "ack_minutes": 0.05,
                                     "notified": ["webhook", "email"]}
        assert events[0].actor_label == "Critical result escalation"
    # The order's timeline says so, with whom it went to.
    auth.login(doctor)
    text = client.get(f"/imaging/orders/{order.id}").get_data(as_text=True)
    assert "Critical result escalated" in text and "Not acknowledged within 0.05 min" in text
    assert "Notified: webhook, email" in text


def test_acknowledged_in_time_is_never_escalated(app, client, make_order, people, token):
    from webapp.reporting.escalation import escalate_due

    order, doctor = raise_critical(client, make_order, people, token)
    result = the_result(app, order)
    done = client.post(f"/api/v1/critical-results/{result.id}/acknowledge", json={}, headers=token(doctor))
    assert done.status_code == 200
    with app.app_context():
        assert escalate_due(result.raised_at + timedelta(hours=1)) == []
    assert the_result(app, order).escalated_at is None and rows(app) == []


def test_webhook_down_at_first_receives_the_escalation_once_up(app, client, make_order, people, token, webhook,
                                                               mailbox):
    """The outbox retries the webhook (doubling wait) until the receiver is up; it then receives one
    JSON POST with the contract's fields; the e-mail reaches every address."""
    from webapp.outbox.dispatcher import Dispatcher

    order, doctor = raise_critical(client, make_order, people, token)
    raised = the_result(app, order).raised_at
    dispatcher = Dispatcher(app, name="test", clock=lambda: raised + timedelta(seconds=4))
    for _ in range(2):
        dispatcher.run_once()
        time.sleep(0.12)
    hook = rows(app, "webhook")[0]
    assert hook.state == "failed" and hook.attempts == 2 and "cannot reach" in hook.last_error
    assert "s3cret" not in hook.destination and hook.destination == f"http://127.0.0.1:{webhook.port}/hooks/critical"
    assert webhook.received == []

    webhook.start()
    time.sleep(0.12)
    dispatcher.run_once()
    dispatcher.run_once()
    dispatcher.close()
    assert rows(app, "webhook")[0].state == "sent"
    assert len(webhook.received) == 1
    path, headers, body = webhook.received[0]
    result = the_result(app, order)
    assert path == "/hooks/critical?token=s3cret" and headers["Content-Type"] == "application/json"
    assert headers["Idempotency-Key"] == f"outbox-{hook.id}"
    assert body == {
        "event": "critical-result-escalated", "critical_result_id": result.id, "order_id": str(order.id),
        "accession_number": order.accession_number, "procedure": body["procedure"],
        "patient": {"name": order.patient.full_name, "mrn": order.patient.mrn}, "note": "Tension pneumothorax",
        "ordering_doctor": {"name": doctor.display_name, "username": doctor.username},
        "raised_by": result.raised_by_label, "raised_at": result.raised_at.isoformat(),
        "escalated_at": result.escalated_at.isoformat(), "ack_minutes": 0.05}

    assert len(mailbox.envelopes) == 1
    envelope = mailbox.envelopes[0]
    assert envelope.mail_from == "radiology@example.org"
    assert envelope.rcpt_tos == ["oncall@example.org", "chief@example.org"]
    mail = message_from_bytes(envelope.content)
    assert mail["Subject"] == f"Critical result not acknowledged: {order.accession_number}"
    text = mail.get_payload(decode=True).decode()
    assert "Tension pneumothorax" in text and order.patient.mrn in text and "0.05 minutes" in text


def test_a_receiver_that_stays_down_dead_letters_on_the_outbox_page(app, client, make_order, people, token, auth):
    from webapp.outbox.dispatcher import Dispatcher

    app.config["OUTBOX_MAX_ATTEMPTS"] = 2
    order, _doctor = raise_critical(client, make_order, people, token)
    raised = the_result(app, order).raised_at
    dispatcher = Dispatcher(app, name="test", clock=lambda: raised + timedelta(seconds=4))
    for _ in range(3):
        dispatcher.run_once()
        time.sleep(0.12)
    hook = rows(app, "webhook")[0]
    assert hook.state == "dead" and hook.attempts == 2
    auth.login("admin")
    page = client.get("/admin/outbox").get_data(as_text=True)
    assert f'id="outbox-message-{hook.id}" data-state="dead"' in page and "critical webhook" in page
    assert "s3cret" not in page
    token_value = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post(f"/admin/outbox/{hook.id}/retry", data={"csrf_token": token_value}).status_code == 303
    assert rows(app, "webhook")[0].state == "pending"


def test_dashboard_and_wall_show_escalated_results_the_wall_counts_only(app, client, make_order, people, token, auth):
    from webapp.reporting.escalation import escalate_due

    order, _doctor = raise_critical(client, make_order, people, token, note="Free air under the diaphragm")
    result = the_result(app, order)
    with app.app_context():
        # Escalated a minute ago, so the dashboard (which asks "now") sees it overdue.
        db.session.execute(CriticalResult.__table__.update().where(CriticalResult.id == result.id)
                           .values(raised_at=result.raised_at - timedelta(minutes=1)))
        db.session.commit()
        assert escalate_due() == [result.id]
    auth.login("admin")
    dashboard = client.get("/dashboard").get_data(as_text=True)
    assert f'id="escalated-critical-{result.id}"' in dashboard and "Escalated" in dashboard
    auth.login("display")
    wall = client.get("/dashboard/wall").get_data(as_text=True)
    assert 'id="wall-critical-escalated" data-count="1"' in wall
    assert "Free air" not in wall and order.accession_number not in wall and order.patient.mrn not in wall


def test_racing_escalators_escalate_each_result_once(app, client, make_order, people, token):
    """Four processes' worth of escalators at once (threads, each its own session and connection):
    every result is escalated by exactly one of them (PostgreSQL: order lock + conditional update)."""
    from webapp.reporting.escalation import escalate_due

    orders = [raise_critical(client, make_order, people, token, note=f"Finding {n}")[0] for n in range(3)]
    now = max(the_result(app, order).raised_at for order in orders) + timedelta(seconds=5)
    won, errors, start = [], [], threading.Barrier(4)

    def escalator():
        try:
            with app.app_context():
                start.wait()
                won.extend(escalate_due(now))
                db.session.remove()
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=escalator) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(won) == sorted(the_result(app, order).id for order in orders)
    assert len(rows(app)) == 2 * len(orders)  # one webhook and one e-mail each
    with app.app_context():
        assert len(db.session.scalars(select(OrderEvent).where(OrderEvent.event_type == "critical_escalated")).all()) == 3
