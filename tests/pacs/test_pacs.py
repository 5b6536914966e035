"""Studies sent to a real Orthanc with storescu come back to their orders (issue 16)."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from sqlalchemy import func, select

from tests.events.livestack import wait_until
from tests.pacs.orthanc import make_study, order_study
from webapp.extensions import db
from webapp.imaging.models import ImagingOrder, OrderEvent
from webapp.pacs.follower import Follower
from webapp.pacs.models import PacsStudy

PASSWORD = "password-123"


def _sign_in(client, user):
    response = client.post("/login", data={"username": user.username, "password": PASSWORD})
    assert response.status_code in (302, 303), response.text


def _token(client, user) -> dict:
    answer = client.post("/api/v1/auth/token", json={"username": user.username, "password": PASSWORD})
    return {"Authorization": f"Bearer {answer.json['access_token']}"}


def _image_events(app, order) -> list[OrderEvent]:
    with app.app_context():
        return list(db.session.scalars(select(OrderEvent).where(
            OrderEvent.order_id == order.id, OrderEvent.event_type == "images_received").order_by(OrderEvent.id)))


def _arrive(app, pacs, tmp_path, order, mrn, **study) -> str:
    files = order_study(tmp_path, order, mrn, **study)
    pacs.send(files)
    orthanc_id = pacs.wait_stable(order.study_instance_uid)
    with app.app_context():
        assert Follower(app).sync() >= 1
    return orthanc_id


def test_study_with_the_orders_uids_shows_on_the_order(app, client, pacs, tmp_path, make_order, make_user):
    order = make_order("in_progress")
    orthanc_id = _arrive(app, pacs, tmp_path, order, order.patient.mrn, series=(2, 1))

    events = _image_events(app, order)
    assert [(e.changes["series"], e.changes["instances"], e.actor_label) for e in events] == [(2, 3, "PACS (Orthanc)")]
    with app.app_context():
        current = db.session.get(ImagingOrder, order.id)
        assert current.status == "in_progress"  # PACS_COMPLETES_ORDERS is off
        assert current.version == order.version + 1

    # Read again (the feed, then a rescan of the day): recorded once, no second entry.
    with app.app_context():
        assert Follower(app).sync() == 0
        today = time.strftime("%Y-%m-%d")
        from datetime import date

        assert Follower(app).rescan(date.fromisoformat(today), date.fromisoformat(today)) == 1
        assert db.session.scalar(select(func.count()).select_from(PacsStudy)) == 1
    assert len(_image_events(app, order)) == 1

    doctor = make_user("doctor")
    answer = client.get(f"/api/v1/imaging/orders/{order.id}", headers=_token(client, doctor)).json
    assert answer["images"]["available"] is True
    assert (answer["images"]["series"], answer["images"]["instances"]) == (2, 3)
    assert answer["images"]["viewer_url"] == f"{pacs.url}/app/explorer.html#study?uuid={orthanc_id}"
    assert answer["images"]["received_at"]
    listed = client.get(f"/api/v1/imaging/orders/patient/{order.patient_id}", headers=_token(client, doctor)).json
    assert listed["items"][0]["images"]["instances"] == 3
    # FHIR: the matched study is the order's ImagingStudy, and it parses as R4B.
    from fhir.resources.R4B.bundle import Bundle

    fhir = client.get("/fhir/R4/ImagingStudy", query_string={"basedon": f"ServiceRequest/{order.id}"},
                      headers=_token(client, doctor))
    assert fhir.status_code == 200, fhir.text
    bundle = Bundle.model_validate(fhir.json)
    assert bundle.total == 1
    study = bundle.entry[0].resource
    assert study.numberOfSeries == 2 and study.numberOfInstances == 3
    assert any(identifier.value.endswith(order.study_instance_uid) for identifier in study.identifier)

    _sign_in(client, doctor)
    page = client.get(f"/imaging/orders/{order.id}").text
    assert "Images received (2 series, 3 images)" in page
    assert f'href="{pacs.url}/app/explorer.html#study?uuid={orthanc_id}"' in page
    with app.app_context():
        study_id = db.session.scalar(select(PacsStudy.id))
    assert page.count(f"/pacs/studies/{study_id}/thumbnails/") == 2  # one per series
    history = client.get(f"/patients/{order.patient_id}?tab=imaging").text
    assert 'id="patient-images"' in history and f"/pacs/studies/{study_id}/thumbnails/0" in history

    thumbnail = client.get(f"/pacs/studies/{study_id}/thumbnails/0")
    assert thumbnail.status_code == 200 and thumbnail.mimetype.startswith("image/")
    assert thumbnail.data[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xdb", b"\xff\xd8\xff\xee")
    assert "private" in thumbnail.headers["Cache-Control"]
    assert client.get(f"/pacs/studies/{study_id}/thumbnails/2").status_code == 404
    from webapp.audit.models import PatientAccessLog

    with app.app_context():
        whats = list(db.session.scalars(select(PatientAccessLog.what)))
    assert f"image of order {order.accession_number}" in whats


def test_the_wall_display_and_signed_out_users_get_no_thumbnails(app, client, pacs, tmp_path, make_order, make_user):
    order = make_order("in_progress")
    _arrive(app, pacs, tmp_path, order, order.patient.mrn, series=(1,))
    with app.app_context():
        study_id = db.session.scalar(select(PacsStudy.id))
    assert client.get(f"/pacs/studies/{study_id}/thumbnails/0").status_code in (302, 303, 401)
    _sign_in(client, make_user("display"))
    assert client.get(f"/pacs/studies/{study_id}/thumbnails/0").status_code == 403


def test_pacs_completes_an_order_still_in_progress_when_configured(app, pacs, tmp_path, make_order):
    app.config["PACS_COMPLETES_ORDERS"] = True
    order = make_order("in_progress")
    scheduled = make_order("scheduled")
    _arrive(app, pacs, tmp_path, order, order.patient.mrn, series=(2, 2, 1))
    _arrive(app, pacs, tmp_path, scheduled, scheduled.patient.mrn, series=(1,))
    with app.app_context():
        completed = db.session.get(ImagingOrder, order.id)
        assert (completed.status, completed.number_of_images) == ("completed", 5)
        last = db.session.scalars(select(OrderEvent).where(OrderEvent.order_id == order.id)
                                  .order_by(OrderEvent.id.desc())).first()
        assert (last.event_type, last.actor_label) == ("complete", "PACS (Orthanc)")
        assert db.session.get(ImagingOrder, scheduled.id).status == "scheduled"  # only in_progress orders


def test_a_study_of_another_patient_with_the_same_accession_is_held(app, client, pacs, tmp_path, make_order,
                                                                    make_user):
    from pydicom.uid import generate_uid

    order = make_order("in_progress")
    files = make_study(tmp_path / "other", study_uid=generate_uid(), accession=order.accession_number,
                       patient_id="MRN-SOMEONE-ELSE", patient_name="DOE^JANE", series=(1,))
    pacs.send(files)
    pacs.wait_stable(_uid(files[0]))
    with app.app_context():
        Follower(app).sync()
        study = db.session.scalar(select(PacsStudy))
        assert study.order_id is None and "MRN-SOMEONE-ELSE" in study.hold_reason
    assert _image_events(app, order) == []

    admin, doctor = make_user("admin"), make_user("doctor")
    assert client.get("/api/v1/pacs/unmatched", headers=_token(client, doctor)).status_code == 403
    listed = client.get("/api/v1/pacs/unmatched", headers=_token(client, admin))
    assert listed.status_code == 200
    [item] = listed.json["items"]
    assert (item["accession_number"], item["patient_id"], item["patient_name"]) == (
        order.accession_number, "MRN-SOMEONE-ELSE", "DOE^JANE")
    assert set(item) >= {"id", "study_instance_uid", "study_date", "description"}

    headers = _token(client, admin)
    url = f"/api/v1/pacs/unmatched/{item['id']}/match"
    assert client.post(url, json={"order_id": "not-a-uuid"}, headers=headers).status_code == 422
    assert client.post(url, json={}, headers=headers).status_code == 422
    assert client.post(url, data="{", headers=headers | {"Content-Type": "application/json"}).status_code == 400
    missing = client.post(url, json={"order_id": "00000000-0000-4000-8000-000000000000"}, headers=headers)
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    assert client.post("/api/v1/pacs/unmatched/999999/match", json={"order_id": str(order.id)},
                       headers=headers).status_code == 404
    assert client.post(url, json={"order_id": str(order.id)}, headers=_token(client, doctor)).status_code == 403

    # Another patient's study is never matched as it is (issue 21, defect 3: tests/pacs/test_identity.py).
    refused = client.post(url, json={"order_id": str(order.id)}, headers=headers)
    assert refused.status_code == 409 and refused.mimetype == "application/problem+json"
    assert _image_events(app, order) == []
    same_patient = make_order("in_progress")
    fix = {"order_id": str(same_patient.id), "correct_study": True, "reason": "Wrong worklist entry"}
    again = client.post(url, json=fix, headers=headers)
    assert again.status_code == 200, again.json
    assert again.json["images"]["available"] is True and again.json["images"]["instances"] == 1
    [event] = _image_events(app, same_patient)
    assert event.actor_id == admin.id and "Matched by hand" in event.note
    twice = client.post(url, json={"order_id": str(same_patient.id)}, headers=headers)
    assert twice.status_code in (404, 409) and twice.mimetype == "application/problem+json"
    assert client.get("/api/v1/pacs/unmatched", headers=headers).json["items"] == []


def _uid(path) -> str:
    from pydicom import dcmread

    return str(dcmread(path, stop_before_pixels=True).StudyInstanceUID)


def test_the_unmatched_page_is_for_admins_and_matches_by_accession(app, client, pacs, tmp_path, make_order,
                                                                   make_user):
    from pydicom.uid import generate_uid

    order = make_order("completed")
    uid = generate_uid()
    pacs.send(make_study(tmp_path / "lost", study_uid=uid, accession="UNKNOWN-1", patient_id=order.patient.mrn,
                         patient_name="GARCIA^LOST", series=(1,)))
    pacs.wait_stable(uid)
    with app.app_context():
        Follower(app).sync()
        study_id = db.session.scalar(select(PacsStudy.id))
    _sign_in(client, make_user("doctor"))
    assert client.get("/imaging/unmatched-studies").status_code == 403
    client.post("/logout")
    _sign_in(client, make_user("admin"))
    page = client.get("/imaging/unmatched-studies").text
    assert "GARCIA LOST" in page and "UNKNOWN-1" in page and "No order has this" in page
    assert client.get(f"/pacs/studies/{study_id}/thumbnails/0").status_code == 200  # admins see held studies
    refused = client.post(f"/imaging/unmatched-studies/{study_id}/match", data={"accession_number": "ACC-1999-99999"},
                          follow_redirects=True)
    assert "No imaging order with accession number" in refused.text
    done = client.post(f"/imaging/unmatched-studies/{study_id}/match",
                       data={"accession_number": order.accession_number}, follow_redirects=True)
    assert f"The study is now on order {order.accession_number}" in done.text
    assert 'id="no-unmatched"' in done.text
    assert len(_image_events(app, order)) == 1


@pytest.mark.sqlite_only
def test_following_survives_orthanc_stopping_and_loses_nothing(app, pacs, tmp_path, make_order, caplog):
    caplog.set_level(logging.INFO, logger="webapp.pacs.follower")
    first, second, third = make_order("in_progress"), make_order("in_progress"), make_order("in_progress")

    def matched(order) -> bool:
        with app.app_context():
            return db.session.scalar(select(PacsStudy).where(PacsStudy.order_id == order.id)) is not None

    def following():
        stop = threading.Event()
        thread = threading.Thread(target=Follower(app).follow, args=(stop,), daemon=True)
        thread.start()
        return stop, thread

    stop, thread = following()
    pacs.send(order_study(tmp_path, first, first.patient.mrn, series=(1,)))
    assert wait_until(lambda: matched(first), 20)

    pacs.stop()
    assert wait_until(lambda: "Orthanc is unavailable" in caplog.text, 10), caplog.text
    assert thread.is_alive()
    pacs.start()
    pacs.send(order_study(tmp_path, second, second.patient.mrn, series=(1,)))
    assert wait_until(lambda: matched(second), 20), caplog.text
    assert "Orthanc answers again" in caplog.text
    stop.set()
    thread.join(10)

    # Sent while nobody follows: the next follower resumes from the stored position.
    pacs.send(order_study(tmp_path, third, third.patient.mrn, series=(1,)))
    pacs.wait_stable(third.study_instance_uid)
    stop, thread = following()
    assert wait_until(lambda: matched(third), 20)
    stop.set()
    thread.join(10)
    assert [len(_image_events(app, o)) for o in (first, second, third)] == [1, 1, 1]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PacsStudy)) == 3
