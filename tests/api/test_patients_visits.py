"""HTTP tests of the minimal patient and visit endpoints."""

from __future__ import annotations

import uuid

import pytest

from webapp.auth.roles import CAN_OPEN_VISITS, CAN_REGISTER_PATIENTS, Role

pytestmark = pytest.mark.sqlite_only


def patient_body(**fields):
    return {"mrn": f"MRN-{uuid.uuid4().hex[:8]}", "first_name": "Ana", "last_name": "Lima",
            "date_of_birth": "1990-02-03", "sex": "female"} | fields


def test_register_find_and_list_patients(client, bearer):
    headers = bearer("scheduler")
    created = client.post("/api/v1/patients", json=patient_body(mrn="MRN-777", last_name=" Okafor "), headers=headers)
    assert created.status_code == 201
    patient = created.json
    assert patient["last_name"] == "Okafor" and patient["mrn"] == "MRN-777"
    assert created.headers["Location"] == f"/api/v1/patients/{patient['id']}"
    assert client.get(f"/api/v1/patients/{patient['id']}", headers=headers).json == patient
    duplicate = client.post("/api/v1/patients", json=patient_body(mrn="MRN-777"), headers=headers)
    assert duplicate.status_code == 409 and duplicate.json["errors"] == {"mrn": "Already registered."}
    for _ in range(3):
        client.post("/api/v1/patients", json=patient_body(), headers=headers)
    first = client.get("/api/v1/patients", query_string={"limit": 3}, headers=headers).json
    second = client.get("/api/v1/patients", query_string={"limit": 3, "cursor": first["next_cursor"]}, headers=headers).json
    assert len(first["items"]) == 3 and len(second["items"]) == 1 and second["next_cursor"] is None
    assert {p["id"] for p in first["items"]}.isdisjoint({p["id"] for p in second["items"]})
    found = client.get("/api/v1/patients", query_string={"q": "okaf"}, headers=headers).json["items"]
    assert [p["id"] for p in found] == [patient["id"]]
    assert client.get("/api/v1/patients", query_string={"q": "MRN-777"}, headers=headers).json["items"] == found


@pytest.mark.parametrize("fields, bad", [
    ({"sex": "x"}, "sex"), ({"date_of_birth": "2999-01-01"}, "date_of_birth"), ({"first_name": ""}, "first_name"),
    ({"last_name": "x" * 65}, "last_name"), ({"mrn": "has space"}, "mrn"), ({"mrn": "M" * 33}, "mrn"),
])
def test_patient_field_limits(client, bearer, fields, bad):
    response = client.post("/api/v1/patients", json=patient_body(**fields), headers=bearer("doctor"))
    assert response.status_code == 422 and bad in response.json["errors"]


def test_open_and_list_visits(client, bearer, make_patient):
    headers = bearer("doctor")
    patient = make_patient()
    body = {"patient_id": str(patient.id), "reason": "Knee pain", "visit_date": "2026-03-04T09:30:00+01:00",
            "diagnoses": [{"code": "S83.511A", "description": "Sprain of ACL"}, {"code": "M25.561", "description": "Pain"}]}
    created = client.post("/api/v1/visits", json=body, headers=headers)
    assert created.status_code == 201
    visit = created.json
    assert visit["visit_date"].startswith("2026-03-04T08:30:00")
    assert [d["code"] for d in visit["diagnoses"]] == ["S83.511A", "M25.561"]
    assert client.get(f"/api/v1/visits/{visit['id']}", headers=headers).json == visit
    other = client.post("/api/v1/visits", json={"patient_id": str(make_patient().id), "reason": "Cough"}, headers=headers)
    assert other.status_code == 201 and other.json["diagnoses"] == []
    listed = client.get("/api/v1/visits", query_string={"patient_id": str(patient.id)}, headers=headers).json
    assert [v["id"] for v in listed["items"]] == [visit["id"]]
    page = client.get("/api/v1/visits", query_string={"limit": 1}, headers=headers).json
    rest = client.get("/api/v1/visits", query_string={"limit": 1, "cursor": page["next_cursor"]}, headers=headers).json
    assert {page["items"][0]["id"], rest["items"][0]["id"]} == {visit["id"], other.json["id"]}
    assert client.post("/api/v1/visits", json=body | {"patient_id": str(uuid.uuid4())}, headers=headers).status_code == 404
    assert client.get(f"/api/v1/visits/{uuid.uuid4()}", headers=headers).status_code == 404
    assert client.get("/api/v1/visits", query_string={"patient_id": str(uuid.uuid4())}, headers=headers).status_code == 404
    naive = client.post("/api/v1/visits", json=body | {"visit_date": "2026-03-04T09:30:00"}, headers=headers)
    assert naive.status_code == 422 and "visit_date" in naive.json["errors"]
    too_many = client.post("/api/v1/visits", json=body | {"diagnoses": body["diagnoses"] * 11}, headers=headers)
    assert too_many.status_code == 422


@pytest.mark.parametrize("role", [str(r) for r in Role])
def test_roles_on_patients_and_visits(client, bearer, make_visit, role):
    headers = bearer(role)
    visit = make_visit()
    can_read = role != "display"
    for path in ("/api/v1/patients", f"/api/v1/patients/{visit.patient_id}", "/api/v1/visits", f"/api/v1/visits/{visit.id}"):
        response = client.get(path, headers=headers)
        assert response.status_code == (200 if can_read else 403), path
    registered = client.post("/api/v1/patients", json=patient_body(), headers=headers)
    assert registered.status_code == (201 if role in CAN_REGISTER_PATIENTS else 403)
    visit_body = {"patient_id": str(visit.patient_id), "reason": "Follow-up"}
    opened = client.post("/api/v1/visits", json=visit_body, headers=headers)
    assert opened.status_code == (201 if role in CAN_OPEN_VISITS else 403)
    for response in (registered, opened):
        if response.status_code == 403:
            assert response.mimetype == "application/problem+json"
    assert client.get("/api/v1/patients").status_code == 401
