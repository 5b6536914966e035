"""Ending a scanner's downtime by hand (docs/scheduling.md#downtime): an ongoing one ends now, one
not begun is withdrawn, one already over is refused (409) with nothing changed; the bookings it
covered from now on get a note that they stand. The downtime page records with Post/Redirect/Get."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.booking.test_booking_rules import _events, _schedule
from webapp.extensions import db

pytestmark = pytest.mark.usefixtures("midday")  # today 12:00 clinic time, ticking


def _downtime(app, downtime_id):
    from webapp.imaging.models import StationDowntime

    with app.app_context():
        return db.session.get(StationDowntime, downtime_id)


def _today(at, hour, minute=0):
    return at(0, hour, minute)


def test_an_ongoing_downtime_ends_now_and_its_bookings_stand(client, bearer, make_order, make_station, book, at, app):
    make_station("CT1", "CT")
    later = make_order("ordered", modality="CT", body_part="HEAD", procedure_code="70450")
    acc = book(later, _today(at, 14), "CT1")
    url = "/api/v1/stations/CT1/downtime"
    made = client.post(url, json={"start": _today(at, 11).isoformat(), "end": _today(at, 15).isoformat(),
                                  "reason": "Gantry fault"}, headers=bearer("scheduler"))
    assert made.status_code == 201 and [o["accession_number"] for o in made.json["rebook"]] == [acc]
    down_id = made.json["id"]
    other = make_order("ordered", modality="CT", body_part="HEAD", procedure_code="70450")
    assert _schedule(client, bearer, other, _today(at, 13), station_ae="CT1").status_code == 409

    assert client.post(f"{url}/{down_id}/end", headers=bearer("technician")).status_code == 403
    assert client.post(f"/api/v1/stations/MR9/downtime/{down_id}/end", headers=bearer("admin")).status_code == 404
    assert client.post(f"{url}/999999/end", headers=bearer("admin")).status_code == 404
    ended = client.post(f"{url}/{down_id}/end", headers=bearer("admin"))
    assert ended.status_code == 200, ended.json
    assert ended.json["outcome"] == "ended" and [o["accession_number"] for o in ended.json["stands"]] == [acc]
    stored = _downtime(app, down_id)
    assert stored.withdrawn_at is not None and stored.ends_at == stored.withdrawn_at
    assert stored.starts_at == _today(at, 11) and stored.withdrawn_by is not None  # its past part stays
    assert "back up" in _events(app, later.id)[-1].note and "this booking stands" in _events(app, later.id)[-1].note
    assert _schedule(client, bearer, other, _today(at, 13), station_ae="CT1").status_code == 200

    again = client.post(f"{url}/{down_id}/end", headers=bearer("admin"))
    assert again.status_code == 409 and again.json["type"].endswith("downtime-over")
    assert _downtime(app, down_id).ends_at == stored.ends_at  # nothing changed


def test_a_downtime_not_begun_is_withdrawn_and_blocks_nothing(client, bearer, auth, make_order, make_station, at, app):
    make_station("US1", "US")
    url = "/api/v1/stations/US1/downtime"
    made = client.post(url, json={"start": at(1, 9).isoformat(), "end": at(1, 12).isoformat(),
                                  "reason": "Service visit"}, headers=bearer("scheduler"))
    order = make_order("ordered", modality="US", body_part="ABDOMEN", procedure_code="76700")
    assert _schedule(client, bearer, order, at(1, 10), station_ae="US1").status_code == 409
    withdrawn = client.post(f"{url}/{made.json['id']}/end", headers=bearer("scheduler"))
    assert withdrawn.status_code == 200 and withdrawn.json["outcome"] == "withdrawn"
    assert withdrawn.json["end"] == made.json["end"]  # withdrawn, not shortened
    auth.login("scheduler")
    board = client.get(f"/imaging/schedule?day={at(1, 9).date().isoformat()}").get_data(as_text=True)
    assert "Service visit" not in board
    assert "Service visit" not in client.get("/imaging/schedule/downtime").get_data(as_text=True)
    assert _schedule(client, bearer, order, at(1, 10), station_ae="US1").status_code == 200


def test_the_downtime_page_records_once_and_ends_one(client, auth, make_station, at, app):
    make_station("MG1", "MG")
    auth.login("scheduler")
    day = at(1, 9).date().isoformat()
    form = {"station_ae": "MG1", "start_date": day, "start_time": "09:00", "end_date": day, "end_time": "10:00",
            "reason": "Detector calibration"}
    posted = client.post("/imaging/schedule/downtime", data=form)
    assert posted.status_code == 303 and "recorded=" in posted.headers["Location"]
    shown = client.get(posted.headers["Location"]).get_data(as_text=True)
    assert 'id="downtime-created"' in shown and "Detector calibration" in shown and 'id="rebook-list"' not in shown
    from webapp.imaging.models import StationDowntime

    with app.app_context():
        (down,) = db.session.scalars(db.select(StationDowntime).where(StationDowntime.station_ae == "MG1")).all()
    assert f'id="downtime-end-{down.id}"' in shown and ">Withdraw<" in shown
    ended = client.post(f"/imaging/schedule/downtime/{down.id}/end")
    assert ended.status_code == 303
    page = client.get(ended.headers["Location"]).get_data(as_text=True)
    assert "is withdrawn" in page and f'id="downtime-row-{down.id}"' not in page
    again = client.get(client.post(f"/imaging/schedule/downtime/{down.id}/end").headers["Location"]).get_data(as_text=True)
    assert "already over" in again
    assert client.post("/imaging/schedule/downtime/99999999999999999999/end").status_code == 404
    assert client.post("/imaging/schedule/downtime/424242/end").status_code == 404
    # Not someone else's step.
    auth.login("technician")
    assert client.post(f"/imaging/schedule/downtime/{down.id}/end").status_code == 403
    assert _downtime(app, down.id).withdrawn_at is not None
    assert _downtime(app, down.id).ends_at - _downtime(app, down.id).starts_at == timedelta(hours=1)
