"""The technician's tablet, the wall display, and the live wiring of the order pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from webapp.extensions import db
from webapp.imaging import queries

HX = {"HX-Request": "true"}


@pytest.fixture
def app_config(database_url, sse_channel):
    # No Redis needed here: publishing is skipped without one. Plain form posts without CSRF.
    return {"WTF_CSRF_ENABLED": False, "SSE_CHANNEL": sse_channel}


def _scheduled_today(make_order, **fields):
    order = make_order("scheduled", **fields)
    return order


@pytest.mark.sqlite_only
def test_worklist_lists_today_and_one_tap_wins(app, client, auth, make_order, make_user):
    xray = _scheduled_today(make_order)
    ct = _scheduled_today(make_order, modality="CT", body_part="HEAD", procedure_code="70450", priority="stat")
    reported = make_order("reported")
    auth.login("technician")

    page = client.get("/imaging/worklist").get_data(as_text=True)
    assert f'id="worklist-order-{ct.id}"' in page and "is-stat" in page
    assert f'id="worklist-order-{reported.id}"' not in page  # no card to start (at most in "done today")
    assert 'class="btn btn-primary btn-touch"' in page  # 48 px touch targets (live.css)
    assert 'hx-trigger="sse:order-changed' in page and 'sse-connect="/stream"' in page

    # One tap starts; a second technician tapping the same (now stale) order sees its current state.
    response = client.post(f"/imaging/worklist/{xray.id}/start", data={"version": xray.version}, headers=HX)
    assert response.status_code == 200
    assert "scan started" in response.get_data(as_text=True)
    other = app.test_client()
    with other.session_transaction() as session:
        session["_user_id"] = make_user("technician", full_name="Second Tech").get_id()
    late = other.post(f"/imaging/worklist/{xray.id}/start", data={"version": xray.version}, headers=HX)
    text = late.get_data(as_text=True)
    assert late.status_code == 409
    assert "changed first" in text and "in progress" in text
    assert f'id="complete-{xray.id}"' in text  # the current state: now it can be completed

    # Completing needs the number of images; then it leaves the worklist.
    assert client.post(f"/imaging/worklist/{xray.id}/complete", data={"version": xray.version + 1},
                       headers=HX).status_code == 422
    done = client.post(f"/imaging/worklist/{xray.id}/complete",
                       data={"version": xray.version + 1, "number_of_images": "24"})
    assert done.status_code == 303
    with app.app_context():
        order = queries.get_order(xray.id)
        assert (order.status, order.number_of_images) == ("completed", 24)

    # Doctors see the list but get no buttons (the transition table decides).
    auth.login("doctor")
    page = client.get("/imaging/worklist").get_data(as_text=True)
    assert f'worklist-order-{ct.id}' in page and f'id="start-{ct.id}"' not in page


@pytest.mark.sqlite_only
def test_wall_display_for_the_display_account_only(app, client, auth, make_order):
    stat = make_order("ordered", priority="stat")
    make_order("scheduled")
    auth.login("display")

    response = client.get("/dashboard/wall")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-bs-theme="dark"' in page and 'class="wall"' in page
    assert 'id="wall-status-ordered"' in page and 'data-count="1"' in page
    assert f'id="wall-stat-{stat.id}"' in page and stat.accession_number in page
    assert "Garcia" not in page and "Maria" not in page, "the wall never shows patient names"
    assert "Reconnecting" in page and 'sse-connect="/stream"' in page
    fragment = client.get("/dashboard/wall", headers=HX).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="wall"')

    # The display account sees the wall and the stream, nothing else.
    for path in ("/dashboard", "/imaging/orders", f"/imaging/orders/{stat.id}", "/imaging/worklist",
                 f"/patients/{stat.patient_id}", f"/visits/{stat.visit_id}"):
        assert client.get(path).status_code == 403, path
    assert client.post(f"/imaging/worklist/{stat.id}/start", data={"version": 1}).status_code == 403


@pytest.mark.sqlite_only
def test_wall_turnaround_per_stage(app, make_order):
    from webapp.dashboard.wall import todays_turnaround

    make_order("reported")
    make_order("completed")
    with app.app_context():
        stages = {s["label"]: s for s in todays_turnaround(datetime.now(UTC) + timedelta(seconds=1))}
    assert stages["Ordered → booked"]["count"] == 2
    assert stages["Scan"]["count"] == 2
    assert stages["Scan → report"]["count"] == 1
    assert stages["Scan"]["median"] == 0


@pytest.mark.sqlite_only
def test_order_pages_refresh_themselves_on_events(app, client, auth, make_order):
    order = make_order("scheduled")
    auth.login("doctor")
    pages = {
        "/dashboard": 'id="dashboard" hx-get="/dashboard"',
        "/imaging/orders?status=scheduled": 'hx-get="/imaging/orders?status=scheduled"',
        f"/imaging/orders/{order.id}": f'data-live-match="id={order.id}"',
        f"/visits/{order.visit_id}": f'data-live-match="visit_id={order.visit_id}"',
        f"/patients/{order.patient_id}?tab=imaging": f'data-live-match="patient_id={order.patient_id}"',
    }
    with app.app_context():
        cursor = db.session.scalar(db.text("SELECT max(id) FROM order_events"))
    for path, marker in pages.items():
        page = client.get(path).get_data(as_text=True)
        assert marker in page, path
        # (The reporting regions also re-fetch when a radiologist claims or releases a study.)
        assert re.search(r'hx-trigger="sse:order-changed(, sse:claim-changed)?, live-reconnected from:body"', page), path
        assert f'data-live-cursor="{cursor}"' in page, path
    # The refreshes are ordinary authorised GETs answered with just the region.
    region = client.get(f"/visits/{order.visit_id}", headers=HX | {"HX-Target": "visit-orders"}).get_data(as_text=True)
    assert region.lstrip().startswith('<section id="visit-orders"') and order.accession_number in region


@pytest.mark.sqlite_only
def test_live_traffic_does_not_keep_an_idle_session_alive(app, client, auth):
    import time as clock

    auth.login("doctor")
    long_ago = int(clock.time()) - 600
    with client.session_transaction() as session:
        session["login_at"] = session["seen_at"] = long_ago
    response = client.get("/stream", buffered=False)
    response.close()
    client.get("/dashboard", headers=HX | {"HX-Target": "dashboard", "X-Live-Refresh": "1"})
    with client.session_transaction() as session:
        assert session["seen_at"] == long_ago, "background requests are not activity"
    client.get("/dashboard")
    with client.session_transaction() as session:
        assert session["seen_at"] > long_ago

    auth.login("display")  # the wall display: a kiosk whose only traffic is live
    with client.session_transaction() as session:
        session["login_at"] = session["seen_at"] = long_ago
    client.get("/dashboard/wall", headers=HX | {"X-Live-Refresh": "1"})
    with client.session_transaction() as session:
        assert session["seen_at"] > long_ago


@pytest.mark.sqlite_only
def test_live_regions_say_which_events_concern_them(app, client, auth):
    """data-live-filter (static/live.js): the tablet hears only of orders that are or were booked
    or running, of its station's modality; a filtered list only of orders that are or were of its
    status, modality, priority; a queue only of its status. The wall waits longer between refreshes."""
    from webapp.dicom.stations import add_station
    from webapp.extensions import writing

    with app.app_context(), writing():
        add_station("CT9", "CT", "CT room 9")
        db.session.commit()
    auth.login("technician")
    tablet = client.get("/imaging/worklist?station=CT9").get_data(as_text=True)
    assert 'data-live-filter="status|from_status=scheduled,in_progress; modality|from_modality=CT"' in tablet
    everyone = client.get("/imaging/worklist?station=").get_data(as_text=True)
    assert 'data-live-filter="status|from_status=scheduled,in_progress"' in everyone
    auth.login("doctor")
    listed = client.get("/imaging/orders?status=scheduled&modality=CT&priority=stat").get_data(as_text=True)
    assert ('data-live-filter="status|from_status=scheduled; modality|from_modality=CT; '
            'priority|from_priority=stat"') in listed
    assert "data-live-filter" not in client.get("/imaging/orders").get_data(as_text=True)
    assert 'data-live-filter="status|from_status=ordered"' in client.get("/dashboard/to-schedule").get_data(as_text=True)
    assert 'data-live-filter="status|from_status=completed"' in client.get("/dashboard/to-report").get_data(as_text=True)
    auth.login("display")
    assert 'data-live-quiet="1500"' in client.get("/dashboard/wall").get_data(as_text=True)
