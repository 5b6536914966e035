"""A department's day, page by page: the technician's tablet (day navigation, overdue first, STAT
first at the same time, the remembered station filter, what a card shows), the work queues
(most urgent, then longest waiting, first), where each role lands after signing in, the sidebar
marking the current page, and the wall's lists."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import update

from webapp.extensions import db, writing

# Bookings "in an hour", "20 minutes ago", tomorrow at 9: read against a mid-day clock, so that
# today is today whenever the tests run (issue 26 #19).
pytestmark = [pytest.mark.sqlite_only, pytest.mark.usefixtures("midday")]


@pytest.fixture
def stations(app):
    from webapp.dicom.stations import add_station

    with app.app_context(), writing():
        add_station("DX1", "XRAY", "X-ray room 1")
        add_station("DX2", "XRAY", "X-ray room 2")
        db.session.commit()


@pytest.fixture
def book(app, make_order):
    """book(when, station="DX1", **order_fields): a scheduled order booked at ``when`` (any time,
    also in the past: the booking is made for later, then moved, as a day's drift would)."""
    from webapp.auth.models import User
    from webapp.imaging import queries, services
    from webapp.imaging.models import ImagingOrder

    def factory(when: datetime, station: str = "DX1", **fields):
        order = make_order(**fields)
        scheduler = make_order.person("scheduler")
        with app.app_context(), writing():
            row = queries.get_order(order.id)
            services.schedule_order(db.session.get(User, scheduler.id), row, datetime.now(UTC) + timedelta(hours=1),
                                    station_ae=station)
            db.session.commit()
            db.session.execute(update(ImagingOrder).where(ImagingOrder.id == order.id).values(scheduled_date=when))
            db.session.commit()
        return order

    return factory


def _tomorrow_at(hour: int, minute: int = 0) -> datetime:
    day = datetime.now(UTC).date() + timedelta(days=1)  # the tests' clinic time zone is UTC
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def _positions(page: str, orders) -> list[int]:
    return [page.index(f'id="worklist-order-{o.id}"') for o in orders]


def test_tablet_day_overdue_first_then_time_with_stat_first(client, auth, book, stations):
    now = datetime.now(UTC)
    yesterday_missed = book(now - timedelta(days=1))
    nine = book(_tomorrow_at(9))
    ten_routine = book(_tomorrow_at(10))
    ten_stat = book(_tomorrow_at(10), priority="stat")
    eleven_stat = book(_tomorrow_at(11), priority="stat")
    auth.login("technician")

    page = client.get("/imaging/worklist").get_data(as_text=True)
    assert f'id="overdue-{yesterday_missed.id}"' in page, "yesterday's unstarted booking shows today, marked"
    assert nine.accession_number not in page

    # Tomorrow's list is one tap away: booked time order, STAT first at the same time.
    next_day = _tomorrow_at(0).date().isoformat()
    assert f'href="/imaging/worklist?day={next_day}"' in page
    ahead = client.get(f"/imaging/worklist?day={next_day}").get_data(as_text=True)
    expected = [nine, ten_stat, ten_routine, eleven_stat]
    assert _positions(ahead, expected) == sorted(_positions(ahead, expected))
    assert yesterday_missed.accession_number not in ahead and "overdue-" not in ahead
    assert f'hx-get="/imaging/worklist?day={next_day}' in ahead  # the live refresh keeps the day shown
    back = client.get(f"/imaging/worklist?day={(now.date() - timedelta(days=1)).isoformat()}").get_data(as_text=True)
    assert f'id="overdue-{yesterday_missed.id}"' in back


def test_tablet_station_filter_is_remembered_and_cards_name_scanner_and_patient(client, auth, book, stations, make_visit,
                                                                                 make_patient):
    patient = make_patient(first_name="Ines", last_name="Moreau", sex="female", date_of_birth=date(1950, 1, 2))
    room1 = book(datetime.now(UTC) - timedelta(minutes=20), station="DX1", visit=make_visit(patient=patient))
    room2 = book(datetime.now(UTC) - timedelta(minutes=25), station="DX2")
    auth.login("technician")

    card = client.get("/imaging/worklist").get_data(as_text=True)
    assert "Scanner DX1 · X-ray room 1" in card and "Scanner DX2 · X-ray room 2" in card
    age = date.today().year - 1950 - ((date.today().month, date.today().day) < (1, 2))
    # The MRN once, as the patient banner shows it ("MRN MRN…" before, issue 26 #18).
    assert patient.mrn.startswith("MRN")
    assert f"Moreau, Ines · Female · {age} y, born 1950-01-02 · {patient.mrn}</div>" in card
    assert "MRN MRN" not in card

    chosen = client.get("/imaging/worklist?station=dx2")
    assert "worklist_station=DX2" in chosen.headers["Set-Cookie"]
    again = client.get("/imaging/worklist").get_data(as_text=True)
    assert room2.accession_number in again and room1.accession_number not in again
    assert 'id="worklist-station-DX2" href="/imaging/worklist?station=DX2" ' in again
    assert 'aria-current="true"' in again.split('id="worklist-station-DX2"')[0].rsplit("<a", 1)[1]
    client.get("/imaging/worklist?station=")
    assert room1.accession_number in client.get("/imaging/worklist").get_data(as_text=True)


@pytest.mark.parametrize("query, field", [("day=2026-13-40", "Day"), ("day=tomorrow", "Day"), ("station=NOPE", "Station")])
def test_tablet_refuses_bad_filters_with_the_field_named(client, auth, stations, query, field):
    auth.login("technician")
    response = client.get(f"/imaging/worklist?{query}")
    assert response.status_code == 400
    assert f"{field}:" in response.get_data(as_text=True)


def test_queues_sort_stat_urgent_routine_then_oldest_with_waiting_time(app, client, auth, make_order):
    from webapp.imaging.models import ImagingOrder

    old_routine = make_order(priority="routine")
    new_stat = make_order(priority="stat")
    old_stat = make_order(priority="stat")
    urgent = make_order(priority="urgent")
    done = [make_order("completed", priority=p) for p in ("routine", "urgent")]
    with app.app_context(), writing():
        for order, hours in ((old_routine, 50), (new_stat, 1), (old_stat, 3), (urgent, 2)):
            db.session.execute(update(ImagingOrder).where(ImagingOrder.id == order.id)
                               .values(ordered_date=datetime.now(UTC) - timedelta(hours=hours, minutes=20)))
        db.session.commit()
    auth.login("scheduler")

    page = client.get("/dashboard/to-schedule").get_data(as_text=True)
    rows = re.findall(r'id="queue-row-([0-9a-f-]+)"', page)
    assert rows == [str(o.id) for o in (old_stat, new_stat, urgent, old_routine)]
    assert "3 h 20 min" in page and "2 d 2 h" in page
    assert 'aria-current="page" id="nav-to-schedule"' in page and 'aria-current="page" id="nav-orders"' not in page

    report = client.get("/dashboard/to-report").get_data(as_text=True)
    assert re.findall(r'id="queue-row-([0-9a-f-]+)"', report) == [str(done[1].id), str(done[0].id)]
    assert "Scan completed" in report and 'aria-current="page" id="nav-to-report"' in report


@pytest.mark.parametrize("role, home", [
    ("technician", "/imaging/worklist"), ("radiologist", "/dashboard/to-report"),
    ("scheduler", "/dashboard/to-schedule"), ("display", "/dashboard/wall"),
    ("doctor", "/dashboard"), ("admin", "/dashboard"),
])
def test_each_role_lands_where_its_work_is(client, make_user, role, home):
    user = make_user(role, password="password-123")
    response = client.post("/login", data={"username": user.username, "password": "password-123"})
    assert response.status_code == 303 and response.headers["Location"] == home
    assert client.get("/login").headers["Location"] == home  # signed in already


def test_next_still_wins_over_the_landing_page(client, make_user):
    user = make_user("technician", password="password-123")
    response = client.post("/login?next=/imaging/orders%3Fstatus%3Dordered",
                           data={"username": user.username, "password": "password-123"})
    assert response.headers["Location"] == "/imaging/orders?status=ordered"


def test_sidebar_marks_the_page_and_has_a_menu_button(client, auth, make_order):
    order = make_order()
    auth.login("doctor")
    dashboard = client.get("/dashboard").get_data(as_text=True)
    assert 'aria-current="page" id="nav-dashboard"' in dashboard
    assert 'id="app-menu-button" aria-expanded="false" aria-controls="app-menu" hidden' in dashboard
    detail = client.get(f"/imaging/orders/{order.id}").get_data(as_text=True)
    assert 'aria-current="true" id="nav-orders"' in detail and 'aria-current="page"' not in detail


def test_wall_waits_from_booking_or_order_and_lists_scans_apart(app, client, auth, book, stations, make_order):
    from webapp.imaging.models import ImagingOrder

    now = datetime.now(UTC)
    late_booked = book(now - timedelta(hours=3, minutes=20), priority="stat")
    booked_later = book(now + timedelta(hours=2), priority="urgent")
    unbooked = make_order(priority="urgent")
    running = make_order("in_progress", priority="stat")
    routine = make_order(priority="routine")
    with app.app_context(), writing():
        db.session.execute(update(ImagingOrder).where(ImagingOrder.id == unbooked.id)
                           .values(ordered_date=now - timedelta(minutes=4999)))
        db.session.execute(update(ImagingOrder).where(ImagingOrder.id == late_booked.id)
                           .values(ordered_date=now - timedelta(days=20)))
        db.session.commit()
    auth.login("display")

    page = client.get("/dashboard/wall").get_data(as_text=True)
    waiting = page.split('id="wall-stat-list"')[1].split("</table>")[0]
    row = waiting.split(f'id="wall-stat-{late_booked.id}"')[1].split("</tr>")[0]
    assert "3 h 20 min" in row, "a booked order waits from its booked time"
    assert "3 d 11 h" in waiting.split(f'id="wall-stat-{unbooked.id}"')[1].split("</tr>")[0]
    # "not due" is neutral, not the pink of a wait (issue 26 #18).
    assert '<td class="wall-wait wall-num wall-not-due">not due</td>' in waiting.split(
        f'id="wall-stat-{booked_later.id}"')[1].split("</tr>")[0]
    assert running.accession_number not in waiting and routine.accession_number not in waiting
    assert f'id="wall-scan-{running.id}"' in page.split('id="wall-scanning-list"')[1]
    assert 'id="wall-clock"' in page and 'id="wall-stale"' in page


@pytest.mark.parametrize("minutes, text", [(0, "0 min"), (59, "59 min"), (60, "1 h"), (200, "3 h 20 min"),
                                           (4999, "3 d 11 h"), (2880, "2 d"), (-5, "0 min"), (None, "0 min")])
def test_durations_read_in_hours_and_days(minutes, text):
    from webapp.dashboard.formatting import duration_text

    assert duration_text(minutes) == text
