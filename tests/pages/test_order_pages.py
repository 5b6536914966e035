"""Order list and order detail: full page and htmx fragment, actions by role, stale versions."""

import re
from datetime import date, timedelta

import pytest

from tests.pages.conftest import hx

pytestmark = pytest.mark.sqlite_only


def test_order_list_full_page_and_fragment(client, auth, make_order):
    routine = make_order("ordered", priority="routine")
    stat = make_order("scheduled", priority="stat", modality="CT", body_part="HEAD", procedure_code="70450")
    auth.login("scheduler")
    page = client.get("/imaging/orders")
    assert page.status_code == 200 and b"<html" in page.data and b'id="orders-table"' in page.data
    assert routine.accession_number.encode() in page.data and stat.accession_number.encode() in page.data
    assert 'Imaging' in page.get_data(as_text=True) and b'href="/imaging/orders"' in page.data  # sidebar menu
    fragment = client.get("/imaging/orders?status=scheduled&modality=CT", headers=hx("order-results"))
    assert fragment.status_code == 200 and b"<html" not in fragment.data
    assert fragment.data.lstrip().startswith(b'<section id="order-results"')
    assert stat.accession_number.encode() in fragment.data and routine.accession_number.encode() not in fragment.data
    assert f'id="order-{stat.id}-status"'.encode() in fragment.data and b"status-scheduled" in fragment.data
    assert "HX-Request" in fragment.headers["Vary"]
    by_text = client.get(f"/imaging/orders?q={routine.accession_number.lower()}")
    assert routine.accession_number.encode() in by_text.data and stat.accession_number.encode() not in by_text.data


def test_order_list_filters_survive_bad_input_and_page_by_cursor(client, auth, make_order, monkeypatch):
    from webapp.imaging.views import orders as order_views

    monkeypatch.setattr(order_views, "PAGE_SIZE", 2)
    orders = [make_order("ordered") for _ in range(3)]
    auth.login("doctor")
    first = client.get("/imaging/orders?priority=routine")
    cursor = re.search(rb'rel="next" href="[^"]*cursor=([^&"]+)', first.data).group(1).decode()
    second = client.get(f"/imaging/orders?priority=routine&cursor={cursor}", headers=hx("order-results"))
    assert orders[0].accession_number.encode() in second.data  # the oldest is on page two
    assert orders[2].accession_number.encode() not in second.data
    assert b"First page" in second.data and b'rel="next"' not in second.data
    bad = client.get("/imaging/orders?status=lost&date_from=yesterday&cursor=zzz")
    assert bad.status_code == 422 and b"were not understood" in bad.data
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    empty = client.get(f"/imaging/orders?date_from={tomorrow}")
    assert b"No orders match these filters." in empty.data


def test_order_detail_full_and_fragment_with_role_actions(client, auth, make_order):
    order = make_order("ordered")
    auth.login("scheduler")
    page = client.get(f"/imaging/orders/{order.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in html
    assert f'id="accession-number" aria-labelledby="accession-label accession-number">{order.accession_number}<' in html
    assert 'id="action-schedule"' in html and 'id="action-start"' not in html and 'id="action-cancel"' not in html
    assert "Order placed" in html  # timeline
    fragment = client.get(f"/imaging/orders/{order.id}", headers=hx("order-main"))
    assert fragment.data.lstrip().startswith(b'<div id="order-main"') and b"<html" not in fragment.data
    auth.login("doctor")
    doctor_view = client.get(f"/imaging/orders/{order.id}").get_data(as_text=True)
    assert 'id="action-cancel"' in doctor_view and 'id="action-schedule"' not in doctor_view
    auth.login("technician")
    tech_view = client.get(f"/imaging/orders/{order.id}").get_data(as_text=True)
    # The technician's only step on an ordered order: recording the patient's arrival (docs/safety.md).
    assert 'id="action-arrive"' in tech_view and 'id="action-start"' not in tech_view


def _schedule_data(version, day="2030-01-15", at="10:30"):
    return {"schedule-version": version, "schedule-date": day, "schedule-time": at}


def test_schedule_start_complete_with_and_without_htmx(client, auth, make_order, app):
    order = make_order("ordered")
    auth.login("scheduler")
    url = f"/imaging/orders/{order.id}/actions/"
    plain = client.post(url + "schedule", data=_schedule_data(order.version))
    assert plain.status_code == 303 and plain.headers["Location"] == f"/imaging/orders/{order.id}"
    after = client.get(plain.headers["Location"]).get_data(as_text=True)
    assert "is scheduled for 2030-01-15 10:30" in after and 'data-status="scheduled"' in after

    auth.login("technician")
    started = client.post(url + "start", data={"start-version": order.version + 1}, headers=hx("order-main"))
    assert started.status_code == 200 and started.headers["HX-Trigger"] == "orders-changed"
    assert b"<html" not in started.data and b'data-status="in_progress"' in started.data
    assert b"Scan of order" in started.data and b'id="action-complete"' in started.data
    done = client.post(url + "complete", data={"complete-version": order.version + 2, "complete-number_of_images": "12"},
                       headers=hx("order-main"))
    assert b'data-status="completed"' in done.data and b"12 images" in done.data


def test_stale_version_shows_message_and_current_state(client, auth, make_order):
    order = make_order("scheduled")  # version 2 now
    auth.login("technician")
    url = f"/imaging/orders/{order.id}/actions/start"
    stale = client.post(url, data={"start-version": order.version - 1}, headers=hx("order-main"))
    assert stale.status_code == 409
    text = stale.get_data(as_text=True)
    assert f"changed order {order.accession_number} while you were looking at it" in text  # by the scheduler
    assert "another tab" not in text and 'data-status="scheduled"' in text
    plain = client.post(url, data={"start-version": order.version - 1})
    assert plain.status_code == 303
    assert "changed order" in client.get(plain.headers["Location"]).get_data(as_text=True)
    fresh = client.post(url, data={"start-version": order.version}, headers=hx("order-main"))
    assert fresh.status_code == 200 and b'data-status="in_progress"' in fresh.data


def test_action_validation_errors_and_forbidden_roles(client, auth, make_order):
    order = make_order("ordered")
    auth.login("doctor")
    url = f"/imaging/orders/{order.id}/actions/"
    missing = client.post(url + "cancel", data={"cancel-version": order.version, "cancel-reason": "  "}, headers=hx())
    assert missing.status_code == 422 and b"is-invalid" in missing.data and b'data-status="ordered"' in missing.data
    assert client.post(url + "schedule", data=_schedule_data(order.version)).status_code == 403
    assert client.post(url + "teleport", data={}).status_code == 404
    cancelled = client.post(url + "cancel", data={"cancel-version": order.version, "cancel-reason": "Duplicate"})
    assert cancelled.status_code == 303
    page = client.get(f"/imaging/orders/{order.id}").get_data(as_text=True)
    assert "Duplicate" in page and "nothing more happens to it" in page


def test_report_and_notes(client, auth, make_order):
    order = make_order("completed")
    auth.login("radiologist")
    url = f"/imaging/orders/{order.id}/actions/"
    noted = client.post(url + "note", data={"note-version": order.version, "note-note": "Prior CT at another site"},
                        headers=hx("order-main"))
    assert b"Prior CT at another site" in noted.data and b"Note added" in noted.data
    reported = client.post(url + "report", data={
        "report-version": order.version + 1, "report-findings": "Small effusion.", "report-impression": "Effusion.",
        "report-report_text": ""}, headers=hx("order-main"))
    assert reported.status_code == 200
    assert b'data-status="reported"' in reported.data and b"Small effusion." in reported.data


@pytest.mark.sqlite_only
def test_scheduler_books_a_scanner_of_the_orders_modality(app, client, auth, make_order):
    from webapp.extensions import db, writing
    from webapp.imaging.models import ImagingOrder, Station

    with app.app_context(), writing():
        db.session.add_all([Station(ae_title="DX_ROOM1", modality="XRAY", room="Room 1", is_active=True),
                            Station(ae_title="CT_MAIN", modality="CT", room="CT suite", is_active=True)])
        db.session.commit()
    order = make_order("ordered")  # an X-ray
    auth.login("scheduler")
    page = client.get(f"/imaging/orders/{order.id}").get_data(as_text=True)
    assert 'value="DX_ROOM1"' in page and "CT_MAIN" not in page  # only scanners of the order's modality
    url = f"/imaging/orders/{order.id}/actions/schedule"
    data = _schedule_data(order.version)
    wrong = client.post(url, headers=hx("order-main"), data=data | {"schedule-station_ae": "CT_MAIN"})
    assert wrong.status_code == 422 and "not a X-Ray scanner" in wrong.get_data(as_text=True)
    booked = client.post(url, headers=hx("order-main"), data=data | {"schedule-station_ae": "DX_ROOM1"})
    assert booked.status_code == 200 and "on scanner" in booked.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(ImagingOrder, order.id).scheduled_station_ae == "DX_ROOM1"


def test_timeline_lists_what_an_edit_changed_with_names_not_codes(app, client, auth, make_order):
    from webapp.auth.models import User
    from webapp.extensions import db, writing
    from webapp.imaging import queries, services

    order = make_order("ordered", special_instructions="<b>No contrast</b>")
    doctor = make_order.person("doctor")
    with app.app_context(), writing():  # as the API's PUT does
        services.update_order(db.session.get(User, doctor.id), queries.get_order(order.id, for_update=True),
                              {"body_part": "ABDOMEN", "procedure_code": "74018", "priority": "stat",
                               "special_instructions": None}, expected_version=order.version)
        db.session.commit()
    auth.login("scheduler")
    html = client.get(f"/imaging/orders/{order.id}").get_data(as_text=True)
    entry = html[html.index("<strong>Details changed</strong>"):]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", entry[:entry.index("</ul>")]))
    assert "Body part: Chest → Abdomen" in text
    assert "Procedure: X-Ray Chest, 2 views (CPT 71046) → X-Ray Abdomen, 1 view (CPT 74018)" in text
    assert "Priority: Routine → STAT" in text
    assert "Special instructions: &lt;b&gt;No contrast&lt;/b&gt; → none" in text  # escaped
    assert text.index("Body part") < text.index("Procedure") < text.index("Priority") < text.index("Special")
