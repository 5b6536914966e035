"""The API's small rules (issue 26, item 9; CONTRACT "Small API rules"): a bodyless POST action
needs no Content-Type; two acknowledgements at once answer 409 to the loser (as documented, not
412); an Idempotency-Key replay answers the same headers, Location too; a JSON date must be a
string; free text refuses MLLP's framing bytes and bidirectional overrides, names refuse line
breaks."""

from __future__ import annotations

import threading

import pytest


def _critical(client, make_order, bearer):
    order = make_order("reported")
    radiologist = bearer("radiologist")
    created = client.post(f"/api/v1/imaging/orders/{order.id}/addenda", headers=radiologist,
                          json={"text": "Missed bleed.", "critical": True, "critical_note": "Subdural"})
    assert created.status_code == 201
    admin = bearer("admin")
    return client.get("/api/v1/critical-results", headers=admin).json["items"][0]["id"], admin


def test_acknowledge_needs_no_body(client, make_order, bearer):
    critical_id, admin = _critical(client, make_order, bearer)
    response = client.post(f"/api/v1/critical-results/{critical_id}/acknowledge", headers=admin)
    assert response.status_code == 200, response.json
    assert response.json["acknowledged_at"]
    # A body that is not JSON is still refused as before.
    response = client.post(f"/api/v1/critical-results/{critical_id}/acknowledge", headers=admin,
                           data="x", content_type="text/plain")
    assert response.status_code == 400


def test_two_acknowledgements_at_once_answer_409_to_the_loser(client, make_order, bearer, live_server):
    for _ in range(4):
        critical_id, admin = _critical(client, make_order, bearer)
        gate, answers = threading.Barrier(2), []

        def acknowledge(headers=admin, critical_id=critical_id, gate=gate, answers=answers):
            gate.wait()
            answers.append(live_server.request("POST", f"/api/v1/critical-results/{critical_id}/acknowledge",
                                               headers=headers)[0])

        threads = [threading.Thread(target=acknowledge) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(answers) == [200, 409]


def test_idempotent_replay_answers_location(client, bearer, make_patient):
    headers = bearer("doctor") | {"Idempotency-Key": "replay-location-1"}
    body = {"mrn": "MRN-REPLAY-1", "first_name": "Ann", "last_name": "Lee", "date_of_birth": "1970-01-01",
            "sex": "female"}
    first = client.post("/api/v1/patients", json=body, headers=headers)
    again = client.post("/api/v1/patients", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    patient = make_patient()
    visit = {"patient_id": str(patient.id), "reason": "Cough"}
    headers["Idempotency-Key"] = "replay-location-2"
    first = client.post("/api/v1/visits", json=visit, headers=headers)
    again = client.post("/api/v1/visits", json=visit, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Location"] == first.headers["Location"]


def test_a_json_date_must_be_a_string(client, bearer, make_patient):
    headers = bearer("doctor")
    patient = make_patient()
    for value in (0, 1700000000, True):
        response = client.post("/api/v1/visits", json={"patient_id": str(patient.id), "reason": "Cough",
                                                       "visit_date": value}, headers=headers)
        assert response.status_code == 422, (value, response.json)
    response = client.post("/api/v1/patients", json={"mrn": "MRN-DATE-1", "first_name": "Ann", "last_name": "Lee",
                                                     "date_of_birth": 0, "sex": "female"}, headers=headers)
    assert response.status_code == 422


@pytest.mark.parametrize(("field", "value"), [
    ("clinical_indication", "pain\x0bwith a vertical tab"),
    ("clinical_indication", "pain\x1c\r"),
    ("clinical_history", "fell \u202egnirts desrever"),
])
def test_free_text_refuses_framing_bytes_and_overrides(client, bearer, order_payload, field, value):
    response = client.post("/api/v1/imaging/orders", json=order_payload(**{field: value}), headers=bearer("doctor"))
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]


def test_free_text_keeps_line_breaks_and_names_refuse_them(client, bearer, order_payload):
    headers = bearer("doctor")
    kept = client.post("/api/v1/imaging/orders", json=order_payload(clinical_history="line one\r\nline two\ttab"),
                       headers=headers)
    assert kept.status_code == 201 and kept.json["clinical_history"] == "line one\r\nline two\ttab"
    for name in ("first_name", "last_name", "mrn"):
        body = {"mrn": "MRN-CR-1", "first_name": "Ann", "last_name": "Lee", "date_of_birth": "1970-01-01",
                "sex": "female"} | {name: "Le\re"}
        response = client.post("/api/v1/patients", json=body, headers=headers)
        assert response.status_code == 422 and name in response.json["errors"], (name, response.json)


def test_page_forms_refuse_framing_bytes(client, auth, make_order):
    auth.login("doctor")
    order = make_order("ordered")
    response = client.get(f"/imaging/orders/{order.id}", query_string={"q": "a\x1cb"})
    assert response.status_code == 400
