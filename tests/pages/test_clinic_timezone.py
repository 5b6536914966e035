"""Dates and times on the pages are the clinic's (APP_TIMEZONE), stored as UTC."""

from datetime import UTC, datetime

import pytest

from tests.pages.conftest import hx

pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def app_config(database_url):
    return {"WTF_CSRF_ENABLED": False, "APP_TIMEZONE": "America/New_York"}


def test_schedule_time_is_taken_and_shown_in_the_clinic_zone(app, client, auth, make_order):
    from webapp.extensions import db
    from webapp.imaging.models import ImagingOrder

    order = make_order("ordered")
    auth.login("scheduler")
    response = client.post(f"/imaging/orders/{order.id}/actions/schedule", headers=hx("order-main"), data={
        "schedule-version": order.version, "schedule-date": "2030-01-15", "schedule-time": "10:30"})
    assert response.status_code == 200
    assert b"scheduled for 2030-01-15 10:30" in response.data
    assert b"clinic's time zone (America/New_York)" in response.data
    with app.app_context():
        stored = db.session.get(ImagingOrder, order.id).scheduled_date
    assert stored == datetime(2030, 1, 15, 15, 30, tzinfo=UTC)  # EST is UTC-5
