"""One scan at a time per scanner, and a start undone (issue 25, CONTRACT "Booking"): a person
starting a second order on a scanner that is scanning is refused (409, tablet and API) and
nothing changes; a scanner's own start (MPPS) is the ground truth and is taken, with a line on
the timeline (docs/scheduling.md#one-scan-at-a-time); a technician undoes a start within 5
minutes, recorded on the timeline."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydicom.uid import generate_uid

from tests.dicom.test_mpps import in_progress, n_create  # pynetdicom as the scanner
from tests.pages.conftest import hx
from webapp.extensions import db, writing

ORDERS = "/api/v1/imaging/orders"


def _two_on_dx1(make_order, make_station, book, at):
    make_station("DX1", "XRAY")
    first, second = make_order("ordered"), make_order("ordered")
    book(first, at(1, 9), "DX1")
    book(second, at(1, 9, 30), "DX1")
    return first, second


def _state(app, order_id):
    from webapp.imaging.queries import get_order, order_events

    with app.app_context():
        order = get_order(order_id)
        return order.status, order.version, order_events(order)


def test_the_api_refuses_a_second_scan_on_a_busy_scanner(client, bearer, make_order, make_station, book, at, app):
    first, second = _two_on_dx1(make_order, make_station, book, at)
    start = {"status": "in_progress"}
    assert client.patch(f"{ORDERS}/{first.id}/status", headers=bearer("technician"), json=start).status_code == 200
    before = _state(app, second.id)
    refused = client.patch(f"{ORDERS}/{second.id}/status", headers=bearer("technician"), json=start)
    assert refused.status_code == 409 and first.accession_number in refused.json["detail"]
    assert refused.json["conflicts"][0]["accession_number"] == first.accession_number
    assert _state(app, second.id)[:2] == before[:2]
    client.patch(f"{ORDERS}/{first.id}/status", headers=bearer("technician"), json={"status": "completed"})
    assert client.patch(f"{ORDERS}/{second.id}/status", headers=bearer("technician"), json=start).status_code == 200


def test_the_tablet_says_the_scanner_is_busy(client, auth, make_order, make_station, book, at, app):
    first, second = _two_on_dx1(make_order, make_station, book, at)
    auth.login("technician")
    day = at(1, 9).date().isoformat()
    started = client.post(f"/imaging/worklist/{first.id}/start", data={"version": _state(app, first.id)[1], "day": day},
                          headers=hx("worklist"))
    assert started.status_code == 200
    refused = client.post(f"/imaging/worklist/{second.id}/start", data={"version": _state(app, second.id)[1], "day": day},
                          headers=hx("worklist"))
    html = refused.get_data(as_text=True)
    assert refused.status_code == 409, html
    assert f"DX1 is scanning {first.accession_number}" in html, html[html.index("tablet-confirmation"):]
    assert _state(app, second.id)[0] == "scheduled"


@pytest.mark.sqlite_only
def test_mpps_from_a_busy_scanner_is_taken_and_noted(app, dicom_server, make_order, make_station, book, at):
    """The scanner is the ground truth (docs/scheduling.md): its N-CREATE succeeds (0000), and the
    timeline says another scan was still in progress on it."""
    make_station("CT1", "CT")
    fields = {"modality": "CT", "body_part": "HEAD", "procedure_code": "70450"}
    first, second = make_order("ordered", **fields), make_order("ordered", **fields)
    book(first, at(1, 9), "CT1")
    book(second, at(1, 9, 30), "CT1")
    from webapp.imaging.queries import get_order

    with app.app_context():
        orders = [get_order(first.id), get_order(second.id)]
        assert n_create(dicom_server, in_progress(orders[0]), generate_uid()).Status == 0x0000
        assert n_create(dicom_server, in_progress(orders[1]), generate_uid()).Status == 0x0000
    status, _, events = _state(app, second.id)
    assert status == "in_progress"
    assert events[-1].changes["while_scanning"] == {"station_ae": "CT1", "orders": [first.accession_number]}
    with app.app_context():
        from webapp.imaging.actions import timeline_entry

        assert any("still in progress on CT1" in line.text for line in timeline_entry(events[-1]).lines)


def test_a_technician_undoes_a_start_within_five_minutes(app, make_order, make_user):
    from webapp.auth.models import User
    from webapp.errors import TransitionNotAllowed
    from webapp.imaging import services
    from webapp.imaging.queries import get_order

    order = make_order("scheduled")
    tech = make_user("technician")
    with app.app_context(), writing():
        current = get_order(order.id)
        started = current.scheduled_date
        services.start_order(db.session.get(User, tech.id), current, now=started)
        db.session.commit()
        with pytest.raises(TransitionNotAllowed, match="too late"):
            services.change_status(db.session.get(User, tech.id), current, "scheduled",
                                   now=started + timedelta(minutes=5, seconds=1))
        db.session.rollback()
        current = get_order(order.id)
        services.apply_action(db.session.get(User, tech.id), current, "undo_start", now=started + timedelta(minutes=4))
        db.session.commit()
    status, _, events = _state(app, order.id)
    assert status == "scheduled" and events[-1].event_type == "undo_start"
    with app.app_context():
        assert get_order(order.id).performed_date is None


def test_the_tablet_confirms_offers_undo_and_lists_done_scans(client, auth, make_order, make_station, book, at, app):
    order = make_order("scheduled")
    auth.login("technician")
    started = client.post(f"/imaging/worklist/{order.id}/start", data={"version": order.version}, headers=hx("worklist"))
    html = started.get_data(as_text=True)
    # The confirmation comes out of band, outside the live region, with Undo.
    assert 'id="tablet-confirmation" class="tablet-confirmation-slot" aria-live="polite" hx-swap-oob="true"' in html
    assert f"Order {order.accession_number}: scan started." in html and 'id="confirmation-undo"' in html
    # A live refresh answers the list alone: the confirmation is not in it, so it stays on the page.
    refresh = client.get("/imaging/worklist", headers=hx("worklist")).get_data(as_text=True)
    assert "tablet-confirmation" not in refresh and f'id="undo-{order.id}"' in refresh
    undone = client.post(f"/imaging/worklist/{order.id}/undo_start", data={"version": order.version + 1},
                         headers=hx("worklist"))
    assert undone.status_code == 200 and "start undone" in undone.get_data(as_text=True)
    version = _state(app, order.id)[1]
    client.post(f"/imaging/worklist/{order.id}/start", data={"version": version}, headers=hx("worklist"))
    client.post(f"/imaging/worklist/{order.id}/complete", data={"version": version + 1, "number_of_images": "4"},
                headers=hx("worklist"))
    page = client.get("/imaging/worklist").get_data(as_text=True)
    done = page[page.index('id="worklist-done"'):]
    assert order.accession_number in done and "4 images" in done


def test_without_javascript_the_confirmation_survives_the_redirect(client, auth, make_order):
    order = make_order("scheduled")
    auth.login("technician")
    answer = client.post(f"/imaging/worklist/{order.id}/start", data={"version": order.version})
    assert answer.status_code == 303
    page = client.get("/imaging/worklist").get_data(as_text=True)
    assert f"Order {order.accession_number}: scan started." in page and 'id="confirmation-undo"' in page
    again = client.get("/imaging/worklist").get_data(as_text=True)
    assert "scan started." not in again  # shown once; the Undo stays on the card while allowed
