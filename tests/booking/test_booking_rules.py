"""The rules of a booking (issue 25, CONTRACT "Booking"; docs/scheduling.md): durations per
procedure, no overlap on a scanner unless allowed, no booking into a downtime, STAT and urgent
within their targets unless a reason is given. Every refusal changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from webapp.extensions import db

ORDERS = "/api/v1/imaging/orders"


def _schedule(client, bearer, order, when, **extra):
    return client.patch(f"{ORDERS}/{order.id}/status", headers=bearer("scheduler"),
                        json={"status": "scheduled", "scheduled_date": when.isoformat(), **extra})


def _stored(app, order_id):
    from webapp.imaging.models import ImagingOrder

    with app.app_context():
        order = db.session.get(ImagingOrder, order_id)
        return order.status, order.scheduled_station_ae, order.version


def _events(app, order_id):
    from webapp.imaging.queries import get_order, order_events

    with app.app_context():
        return order_events(get_order(order_id))


# ---------------------------------------------------------------------------- durations


def test_the_seed_gives_each_procedure_its_modalitys_duration(app):
    """docs/scheduling.md#durations: XRAY 10, US 20, MG 20, FL 30, CT 20, MRI 45 minutes."""
    from webapp.imaging.models import Procedure

    with app.app_context():
        minutes = {p.code: p.duration_minutes for p in db.session.scalars(db.select(Procedure))}
        assert (minutes["71046"], minutes["70450"], minutes["70551"], minutes["76700"], minutes["77067"],
                minutes["74240"]) == (10, 20, 45, 20, 20, 30)


def test_a_booking_occupies_its_procedures_duration(client, bearer, make_order, make_station, book, at, app):
    make_station("MR1", "MRI")
    first = make_order("ordered", modality="MRI", body_part="HEAD", procedure_code="70551")
    book(first, at(1, 9), "MR1")
    second = make_order("ordered", modality="MRI", body_part="HEAD", procedure_code="70551")
    assert _schedule(client, bearer, second, at(1, 9, 40), station_ae="MR1").status_code == 409  # 9:00-9:45
    assert _schedule(client, bearer, second, at(1, 9, 45), station_ae="MR1").status_code == 200  # back to back


def test_an_administrator_changes_a_duration_and_the_seed_keeps_it(client, auth, app, make_order, make_station,
                                                                   bearer, book, at):
    from webapp.imaging.models import Procedure
    from webapp.imaging.reference import load_reference_data

    auth.login("scheduler")
    assert client.get("/admin/durations").status_code == 403
    auth.login("admin")
    page = client.get("/admin/durations")
    assert page.status_code == 200 and b'id="duration-71046"' in page.data
    bad = client.post("/admin/durations", data={"code": "71046", "minutes": "0"})
    assert bad.status_code == 422 and b"Whole minutes from 5 to 480" in bad.data
    done = client.post("/admin/durations", data={"code": "71046", "minutes": "25"})
    assert done.status_code == 303
    with app.app_context():
        load_reference_data()
        db.session.commit()
        assert db.session.get(Procedure, "71046").duration_minutes == 25
    make_station("DX1", "XRAY")
    book(make_order("ordered"), at(1, 10), "DX1")
    later = make_order("ordered")
    assert _schedule(client, bearer, later, at(1, 10, 20), station_ae="DX1").status_code == 409  # now 25 minutes


# ---------------------------------------------------------------------------- overlaps


def test_an_overlap_is_refused_naming_the_other_booking_unless_allowed(client, bearer, make_order, make_station,
                                                                      book, at, app):
    make_station("DX1", "XRAY")
    booked = book(make_order("ordered"), at(1, 10), "DX1")
    order = make_order("ordered")
    before = _stored(app, order.id)
    refused = _schedule(client, bearer, order, at(1, 10, 5), station_ae="DX1")
    assert refused.status_code == 409 and refused.mimetype == "application/problem+json"
    assert booked in refused.json["detail"] and refused.json["conflicts"][0]["accession_number"] == booked
    assert refused.json["overridable"] is True
    assert _stored(app, order.id) == before  # nothing changed
    anyway = _schedule(client, bearer, order, at(1, 10, 5), station_ae="DX1", allow_overlap=True)
    assert anyway.status_code == 200 and anyway.json["scheduled_station_ae"] == "DX1"
    assert _events(app, order.id)[-1].changes["overlaps"] == [booked]
    # Another scanner, or no scanner, is free.
    other = make_order("ordered")
    assert _schedule(client, bearer, other, at(1, 10, 5)).status_code == 200


def test_the_order_page_asks_book_anyway(client, auth, make_order, make_station, book, at):
    make_station("DX1", "XRAY")
    booked = book(make_order("ordered"), at(1, 10), "DX1")
    order = make_order("ordered")
    auth.login("scheduler")
    day = at(1, 10).date().isoformat()
    data = {"schedule-version": order.version, "schedule-date": day, "schedule-time": "10:05",
            "schedule-station_ae": "DX1"}
    refused = client.post(f"/imaging/orders/{order.id}/actions/schedule", data=data)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 409 and booked in html and "Book anyway" in html
    done = client.post(f"/imaging/orders/{order.id}/actions/schedule", data=data | {"schedule-allow_overlap": "y"})
    assert done.status_code == 303


# ---------------------------------------------------------------------------- downtime


def test_downtime_refuses_bookings_and_lists_the_ones_to_rebook(client, bearer, make_order, make_station, book,
                                                               at, app):
    make_station("CT1", "CT")
    covered = make_order("ordered", modality="CT", body_part="HEAD", procedure_code="70450")
    acc = book(covered, at(1, 12, 30), "CT1")
    url = "/api/v1/stations/ct1/downtime"
    body = {"start": at(1, 12).isoformat(), "end": at(1, 14).isoformat(), "reason": "Tube replacement"}
    assert client.post(url, json=body, headers=bearer("technician")).status_code == 403
    assert client.post("/api/v1/stations/NOPE/downtime", json=body, headers=bearer("scheduler")).status_code == 404
    backwards = client.post(url, json=body | {"end": at(1, 11).isoformat()}, headers=bearer("scheduler"))
    assert backwards.status_code == 422 and "end" in backwards.json["errors"]
    assert client.post(url, json=body | {"reason": " "}, headers=bearer("admin")).status_code == 422
    made = client.post(url, json=body, headers=bearer("scheduler"))
    assert made.status_code == 201, made.json
    assert made.json["station_ae"] == "CT1" and [o["accession_number"] for o in made.json["rebook"]] == [acc]
    assert "rebook this order" in _events(app, covered.id)[-1].note
    order = make_order("ordered", modality="CT", body_part="HEAD", procedure_code="70450")
    before = _stored(app, order.id)
    for when in (at(1, 13), at(1, 11, 50)):  # inside; and running into it (20 minutes)
        refused = _schedule(client, bearer, order, when, station_ae="CT1", allow_overlap=True)
        assert refused.status_code == 409 and "Tube replacement" in refused.json["detail"]
        assert refused.json["overridable"] is False
    assert _stored(app, order.id) == before
    assert _schedule(client, bearer, order, at(1, 14), station_ae="CT1").status_code == 200


# ---------------------------------------------------------------------------- STAT and urgent targets


@pytest.mark.parametrize("priority, days, hour", [("stat", 1, 9), ("urgent", 3, 9)])
def test_stat_and_urgent_later_than_their_target_need_a_reason(client, bearer, auth, make_order, at, app,
                                                              priority, days, hour):
    """STAT within 4 hours, urgent within 2 days of the order (BOOKING_STAT_HOURS, BOOKING_URGENT_DAYS;
    docs/scheduling.md#targets cites the targets)."""
    order = make_order("ordered", priority=priority)
    before = _stored(app, order.id)
    refused = _schedule(client, bearer, order, at(days, hour))
    assert refused.status_code == 422 and "reason" in refused.json["errors"]
    assert _stored(app, order.id) == before
    done = _schedule(client, bearer, order, at(days, hour), reason="Patient asked for a later day")
    assert done.status_code == 200
    event = _events(app, order.id)[-1]
    assert event.changes["reason"] == "Patient asked for a later day" and event.changes["late"] is True

    auth.login("scheduler")
    page = client.get(f"/imaging/orders/{order.id}").get_data(as_text=True)
    assert "Booked later than its target: Patient asked for a later day" in page


def test_urgent_within_two_days_and_stat_soon_need_no_reason(client, bearer, make_order, at, app):
    from datetime import UTC, datetime

    urgent = make_order("ordered", priority="urgent")
    assert _schedule(client, bearer, urgent, at(1, 9)).status_code == 200
    stat = make_order("ordered", priority="stat")
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    assert _schedule(client, bearer, stat, soon).status_code == 200


def test_the_stat_target_is_a_setting(client, bearer, make_order, at, app):
    app.config["BOOKING_STAT_HOURS"] = 48  # tomorrow 09:00 is always within 48 hours of now
    order = make_order("ordered", priority="stat")
    assert _schedule(client, bearer, order, at(1, 9)).status_code == 200


def test_the_board_tablet_and_wall_show_a_downtime(client, auth, bearer, make_station, make_order, app):
    """Now-ish: a downtime from an hour ago to an hour from now shows on today's tablet and on the wall."""
    from datetime import UTC, datetime

    make_station("US1", "US")
    now = datetime.now(UTC).replace(microsecond=0)
    body = {"start": (now - timedelta(hours=1)).isoformat(), "end": (now + timedelta(hours=1)).isoformat(),
            "reason": "Probe broken"}
    assert client.post("/api/v1/stations/US1/downtime", json=body, headers=bearer("admin")).status_code == 201
    auth.login("technician")
    tablet = client.get("/imaging/worklist?station=US1").get_data(as_text=True)
    assert "US1 is down" in tablet and "Probe broken" in tablet
    auth.login("display")
    wall = client.get("/dashboard/wall").get_data(as_text=True)
    assert 'id="wall-downtime"' in wall and "US1 down" in wall and "Probe broken" in wall
    auth.login("scheduler")
    day = now.date().isoformat()
    board = client.get(f"/imaging/schedule?day={day}").get_data(as_text=True)
    column = board[board.index('id="station-US1"'):]
    assert "Probe broken" in column[:column.index("</section>")]


def test_the_board_lists_waiting_orders_stat_first_and_books_them(client, auth, make_order, make_station, at, app):
    make_station("DX1", "XRAY")
    routine = make_order("ordered")
    stat = make_order("ordered", priority="stat")
    auth.login("scheduler")
    day = at(1, 9).date().isoformat()
    page = client.get(f"/imaging/schedule?day={day}").get_data(as_text=True)
    waiting = page[page.index('id="waiting-list"'):]
    assert waiting.index(stat.accession_number) < waiting.index(routine.accession_number)
    assert "Waiting 0 min" in waiting or "Waiting 1 min" in waiting
    chosen = client.get(f"/imaging/schedule?day={day}&order={routine.id}").get_data(as_text=True)
    assert 'id="book-form"' in chosen and 'id="slot-DX1-0700"' in chosen
    form = {"order_id": str(routine.id), "version": routine.version, "station_ae": "DX1", "date": day,
            "time": "09:00", "day": day}
    assert client.post("/imaging/schedule/book", data=form | {"time": "25:00"}).status_code == 422
    done = client.post("/imaging/schedule/book", data=form)
    assert done.status_code == 303 and _stored(app, routine.id)[:2] == ("scheduled", "DX1")
    # A STAT booked tomorrow without a reason: the form again, with the reason asked for.
    late = client.post("/imaging/schedule/book", data=form | {"order_id": str(stat.id), "version": stat.version,
                                                              "time": "11:00"})
    assert late.status_code == 422 and 'id="book-reason-error"' in late.get_data(as_text=True)
    # Unbooking needs a reason; then the order waits again.
    version = _stored(app, routine.id)[2]
    refused = client.post("/imaging/schedule/unbook", data={"order_id": str(routine.id), "version": version, "day": day})
    assert refused.status_code == 422 and _stored(app, routine.id)[0] == "scheduled"
    unbooked = client.post("/imaging/schedule/unbook", data={"order_id": str(routine.id), "version": version,
                                                             "day": day, "reason": "Patient ill"})
    assert unbooked.status_code == 303 and _stored(app, routine.id)[:2] == ("ordered", None)
    assert _events(app, routine.id)[-1].changes["reason"] == "Patient ill"
    auth.login("technician")
    current = form | {"version": _stored(app, routine.id)[2]}
    assert client.post("/imaging/schedule/book", data=current).status_code == 403
    assert client.get("/imaging/schedule/downtime").status_code == 403
