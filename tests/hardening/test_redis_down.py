"""With Redis unreachable, orders are still created and changed through the API (events kept)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.imaging.models import OrderEvent

pytestmark = pytest.mark.sqlite_only


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def app_config():
    return {"REDIS_URL": f"redis://127.0.0.1:{_closed_port()}/0"}


def test_orders_are_created_and_changed_while_redis_is_down(app, client, make_user, make_visit):
    headers = {}
    for role in ("doctor", "scheduler"):
        user = make_user(role, password="password-123")
        token = client.post("/api/v1/auth/token", json={"username": user.username, "password": "password-123"})
        headers[role] = {"Authorization": f"Bearer {token.get_json()['access_token']}"}
    visit = make_visit()
    created = client.post("/api/v1/imaging/orders", headers=headers["doctor"], json={
        "patient_id": str(visit.patient_id), "visit_id": str(visit.id), "modality": "XRAY", "body_part": "CHEST",
        "procedure_code": "71046", "clinical_indication": "Cough"})
    assert created.status_code == 201, created.get_json()
    order_id = created.get_json()["id"]
    scheduled = client.patch(f"/api/v1/imaging/orders/{order_id}/status", headers=headers["scheduler"], json={
        "status": "scheduled", "scheduled_date": (datetime.now(UTC) + timedelta(days=1)).isoformat()})
    assert scheduled.status_code == 200, scheduled.get_json()
    assert scheduled.get_json()["status"] == "scheduled"
    with app.app_context():
        # Both changes are committed with their events: clients catch up from the table later.
        assert db.session.scalar(select(func.count()).select_from(OrderEvent)) == 2


def test_signed_in_pages_carry_the_live_updates_paused_notice(client, auth):
    """live.js sets body.live-down while the stream is down; live.css then shows this notice."""
    auth.login("doctor")
    page = client.get("/imaging/orders").get_data(as_text=True)
    assert 'class="live-paused' in page and "Live updates are paused" in page
    assert "body.live-down .live-paused { display: block; }" in client.get("/static/live.css").get_data(as_text=True)
