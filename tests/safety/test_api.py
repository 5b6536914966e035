"""Safety screening through the API (CONTRACT "Safety screening"): the record, alerts on orders, a
stop blocking booking until a radiologist clears it, the protocol before the scan, the arrival.
Rules and sources: docs/safety.md (ACR Manual on Contrast Media 2024, ACR Manual on MR Safety 2024)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from webapp.extensions import db
from webapp.imaging.models import OrderEvent
from webapp.safety.models import SafetyRecordChange

RECENT = (date.today() - timedelta(days=2)).isoformat()
IN_AN_HOUR = (datetime.now(UTC) + timedelta(hours=1)).isoformat()


def record(**fields):
    return {"allergies": [], "egfr": None, "pregnancy": None, "implants": [], "on_metformin": False,
            "weight_kg": None} | fields


def put(client, headers, patient_id, body, etag='"0"'):
    return client.put(f"/api/v1/patients/{patient_id}/safety", json=body, headers=headers | {"If-Match": etag})


def place(client, headers, payload, **fields):
    response = client.post("/api/v1/imaging/orders", json=payload | fields, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


CT_WITH_CONTRAST = {"modality": "CT", "body_part": "ABDOMEN", "procedure_code": "74177"}


def test_the_record_is_read_and_replaced_with_if_match_and_its_trail(client, bearer, make_patient):
    patient = make_patient()
    doctor = bearer("doctor")
    empty = client.get(f"/api/v1/patients/{patient.id}/safety", headers=doctor)
    assert empty.status_code == 200 and empty.headers["ETag"] == '"0"'
    assert empty.json["allergies"] == [] and empty.json["egfr"] is None and empty.json["on_metformin"] is False

    body = record(allergies=[{"substance": "iodinated_contrast", "reaction": "hives", "severity": "moderate"}],
                  egfr={"value": 28, "measured_on": RECENT}, pregnancy="no",
                  implants=[{"name": "Hip prosthesis", "mr_safety": "conditional"}], on_metformin=True, weight_kg=72.5)
    assert client.put(f"/api/v1/patients/{patient.id}/safety", json=body, headers=doctor).status_code == 428
    saved = put(client, doctor, patient.id, body)
    assert saved.status_code == 200, saved.json
    assert saved.headers["ETag"] == '"1"'
    assert saved.json["egfr"] == {"value": 28.0, "measured_on": RECENT}
    assert saved.json["allergies"][0]["substance"] == "iodinated_contrast" and saved.json["weight_kg"] == 72.5
    assert put(client, doctor, patient.id, body | {"weight_kg": 70}, etag='"0"').status_code == 412
    with client.application.app_context():
        trail = db.session.scalars(select(SafetyRecordChange).where(SafetyRecordChange.patient_id == patient.id)).all()
        assert len(trail) == 1 and trail[0].actor_role == "doctor"
        assert trail[0].changes["egfr_value"] == {"from": None, "to": 28.0}


def test_bad_values_are_refused_and_nothing_changes(client, bearer, make_patient):
    patient = make_patient()
    nurse = bearer("technician")
    for bad in (record(allergies=[{"substance": "peanuts"}]), record(egfr={"value": 0, "measured_on": RECENT}),
                record(egfr={"value": 50, "measured_on": "2999-01-01"}), record(egfr={"value": 50, "measured_on": 20240101}),
                record(pregnancy="maybe"), record(implants=[{"name": "Clip", "mr_safety": "fine"}]),
                record(weight_kg=-3), record(on_metformin="yes")):
        answer = put(client, nurse, patient.id, bad)
        assert answer.status_code == 422, (bad, answer.status_code, answer.json)
        assert answer.mimetype == "application/problem+json"
    assert client.get(f"/api/v1/patients/{patient.id}/safety", headers=nurse).headers["ETag"] == '"0"'


def test_who_may_change_the_record(client, bearer, make_patient):
    patient = make_patient()
    for role, expected in (("admin", 403), ("display", 403), ("scheduler", 200), ("radiologist", 200)):
        answer = client.put(f"/api/v1/patients/{patient.id}/safety", json=record(weight_kg=60),
                            headers=bearer(role) | {"If-Match": "*"})
        assert answer.status_code == expected, (role, answer.json)
    assert client.get(f"/api/v1/patients/{patient.id}/safety", headers=bearer("display")).status_code == 403


def test_a_stop_blocks_booking_until_a_radiologist_clears_it(client, bearer, make_visit, order_payload, make_station):
    """eGFR 28 with iodinated contrast: IODINATED_EGFR_BELOW_30 (ACR Manual on Contrast Media 2024)."""
    visit = make_visit()
    station = make_station("CTSAFE1", "CT")
    doctor, scheduler, radiologist = bearer("doctor"), bearer("scheduler"), bearer("radiologist")
    assert put(client, doctor, visit.patient_id, record(egfr={"value": 28, "measured_on": RECENT})).status_code == 200
    order = place(client, doctor, order_payload(visit), **CT_WITH_CONTRAST)
    assert order["contrast"] == "iodinated" and order["protocol_required"] is True
    assert [(a["code"], a["severity"]) for a in order["safety_alerts"]] == [("IODINATED_EGFR_BELOW_30", "stop")]

    booking = {"status": "scheduled", "scheduled_date": IN_AN_HOUR, "station_ae": station}
    refused = client.patch(f"/api/v1/imaging/orders/{order['id']}/status", json=booking, headers=scheduler)
    assert refused.status_code == 409
    assert refused.json["safety_alerts"][0]["code"] == "IODINATED_EGFR_BELOW_30"
    assert client.get(f"/api/v1/imaging/orders/{order['id']}", headers=doctor).json["status"] == "ordered"

    clear = f"/api/v1/imaging/orders/{order['id']}/safety/clear"
    assert client.post(clear, json={"reason": "Benefit outweighs"}, headers=doctor).status_code == 403
    assert client.post(clear, json={"reason": ""}, headers=radiologist).status_code == 422
    cleared = client.post(clear, json={"reason": "Emergency; hydration protocol"}, headers=radiologist)
    assert cleared.status_code == 200, cleared.json
    assert cleared.json["safety_override_reason"] == "Emergency; hydration protocol"
    assert cleared.json["safety_cleared_by"] == str(bearer.user.id) and cleared.json["safety_cleared_at"]
    assert client.post(clear, json={"reason": "again"}, headers=radiologist).status_code == 409
    booked = client.patch(f"/api/v1/imaging/orders/{order['id']}/status", json=booking, headers=scheduler)
    assert booked.status_code == 200, booked.json
    with client.application.app_context():
        event = db.session.scalars(select(OrderEvent).where(OrderEvent.event_type == "clear_safety")).one()
        assert event.actor_role == "radiologist" and event.changes["cleared"] == ["IODINATED_EGFR_BELOW_30"]


def test_a_record_change_raises_a_new_stop_on_a_booked_order(client, bearer, make_visit, order_payload):
    """An MR-unsafe implant recorded after booking an MRI (ACR Manual on MR Safety): the order's
    timeline and live event say so, and the scan cannot start."""
    visit = make_visit()
    doctor, scheduler, technician = bearer("doctor"), bearer("scheduler"), bearer("technician")
    order = place(client, doctor, order_payload(visit), modality="MRI", body_part="HEAD", procedure_code="70551")
    assert order["safety_alerts"] == [] and order["protocol_required"] is False
    booking = {"status": "scheduled", "scheduled_date": IN_AN_HOUR}
    assert client.patch(f"/api/v1/imaging/orders/{order['id']}/status", json=booking,
                        headers=scheduler).status_code == 200
    implant = record(implants=[{"name": "Cochlear implant (older model)", "mr_safety": "unsafe"}])
    assert put(client, technician, visit.patient_id, implant).status_code == 200
    now = client.get(f"/api/v1/imaging/orders/{order['id']}", headers=doctor).json
    assert [a["code"] for a in now["safety_alerts"]] == ["MR_UNSAFE_IMPLANT"] and now["version"] == 3
    start = client.patch(f"/api/v1/imaging/orders/{order['id']}/status", json={"status": "in_progress"},
                         headers=technician)
    assert start.status_code == 409 and start.json["safety_alerts"][0]["code"] == "MR_UNSAFE_IMPLANT"
    with client.application.app_context():
        kinds = db.session.scalars(select(OrderEvent.event_type).where(
            OrderEvent.order_id == uuid.UUID(order["id"])).order_by(OrderEvent.id)).all()
        assert kinds == ["created", "schedule", "safety_screened"]


def test_protocol_before_the_scan_and_the_arrival(client, bearer, make_visit, order_payload):
    visit = make_visit()
    doctor, scheduler, technician, radiologist = (bearer(r) for r in ("doctor", "scheduler", "technician", "radiologist"))
    order = place(client, doctor, order_payload(visit), **CT_WITH_CONTRAST)
    orders = f"/api/v1/imaging/orders/{order['id']}"
    assert client.patch(f"{orders}/status", json={"status": "scheduled", "scheduled_date": IN_AN_HOUR},
                        headers=scheduler).status_code == 200
    refused = client.patch(f"{orders}/status", json={"status": "in_progress"}, headers=technician)
    assert refused.status_code == 409 and refused.json["type"].endswith("protocol-required")

    assert client.post(f"{orders}/protocol", json={"protocol": "Portal venous phase"}, headers=doctor).status_code == 403
    done = client.post(f"{orders}/protocol", json={"protocol": "Portal venous phase", "notes": "Oral contrast 1 h before"},
                       headers=radiologist)
    assert done.status_code == 200 and done.json["protocol"] == "Portal venous phase"
    assert done.json["protocol_notes"] == "Oral contrast 1 h before"

    # Arrival: no body and no Content-Type needed; once only; doctors may not.
    assert client.post(f"{orders}/arrival", headers=doctor).status_code == 403
    arrived = client.post(f"{orders}/arrival", headers=scheduler)
    assert arrived.status_code == 200, arrived.json
    assert arrived.json["arrived_at"]
    assert client.post(f"{orders}/arrival", headers=technician).status_code == 409
    assert client.patch(f"{orders}/status", json={"status": "in_progress"}, headers=technician).status_code == 200


def test_contrast_is_checked_and_defaults_from_the_procedure(client, bearer, make_visit, order_payload):
    visit = make_visit()
    doctor = bearer("doctor")
    assert client.post("/api/v1/imaging/orders", json=order_payload(visit, contrast="barium"),
                       headers=doctor).status_code == 422
    plain = place(client, doctor, order_payload(visit))
    assert plain["contrast"] == "none" and plain["protocol_required"] is False
    mri = place(client, doctor, order_payload(visit), modality="MRI", body_part="HEAD", procedure_code="70553")
    assert mri["contrast"] == "gadolinium" and mri["protocol_required"] is True
    chosen = place(client, doctor, order_payload(visit), modality="CT", body_part="HEAD", procedure_code="70450",
                   contrast="iodinated")
    assert chosen["contrast"] == "iodinated" and chosen["protocol_required"] is True
