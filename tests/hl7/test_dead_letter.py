"""Dead-lettering after OUTBOX_MAX_ATTEMPTS, and an admin's retry from /admin/outbox (CSRF, audited)."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import select

from tests.hl7.conftest import outbox_rows
from tests.hl7.peers import field
from webapp.extensions import db
from webapp.outbox.models import OutboxAction


@pytest.fixture
def outbox_settings():
    return {"OUTBOX_RETRY_SECONDS": 0.05, "OUTBOX_RETRY_MAX_SECONDS": 0.1, "OUTBOX_POLL_SECONDS": 0.05,
            "HL7_TIMEOUT_SECONDS": 3.0, "OUTBOX_MAX_ATTEMPTS": 3}


def _token(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_dead_letter_holds_the_order_until_an_admin_retries(app, receiver, make_order, client, auth):
    from webapp.outbox.dispatcher import Dispatcher

    receiver.stop()
    order = make_order("scheduled")  # NW, SC
    dispatcher = Dispatcher(app, name="test")
    for _ in range(3):
        dispatcher.run_once()
        time.sleep(0.15)
    rows = outbox_rows(app)
    assert [(row.state, row.attempts) for row in rows] == [("dead", 3), ("pending", 0)]
    assert "cannot connect" in rows[0].last_error
    receiver.start()
    time.sleep(0.15)
    assert dispatcher.run_once() == 0, "the dead message holds the order's later one back"

    auth.login("doctor")
    assert client.get("/admin/outbox").status_code == 403
    assert client.post(f"/admin/outbox/{rows[0].id}/retry").status_code in (400, 403)
    admin = auth.login("admin")
    page = client.get("/admin/outbox").get_data(as_text=True)
    assert f'id="outbox-message-{rows[0].id}" data-state="dead"' in page
    assert "cannot connect" in page and order.accession_number in page
    assert client.post(f"/admin/outbox/{rows[0].id}/retry").status_code == 400  # no CSRF token
    response = client.post(f"/admin/outbox/{rows[0].id}/retry", data={"csrf_token": _token(page)})
    assert response.status_code == 303
    assert client.post(f"/admin/outbox/{rows[0].id}/retry", data={"csrf_token": _token(page)},
                       headers={"HX-Request": "true"}).status_code == 409  # not dead any more
    with app.app_context():
        action = db.session.scalars(select(OutboxAction)).one()
        assert (action.message_id, action.action, action.actor_id, action.previous_state, action.attempts) == (
            rows[0].id, "retry", admin.id, "dead", 3)
        assert "cannot connect" in action.previous_error

    dispatcher.run_once()
    dispatcher.run_once()
    dispatcher.close()
    assert [field(m, "ORC", 1) for m in receiver.received] == ["NW", "SC"]
    assert [row.state for row in outbox_rows(app)] == ["sent", "sent"]
