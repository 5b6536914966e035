"""HTTP tests of /api/v1/imaging: every endpoint, every role, every error status of the CONTRACT."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from webapp.auth.roles import Role

pytestmark = pytest.mark.sqlite_only
ORDERS = "/api/v1/imaging/orders"
PROBLEM = "application/problem+json"


def problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.json
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    return body


def tomorrow() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).isoformat()


def test_whole_life_cycle_through_the_api(client, bearer, order_payload):
    doctor, scheduler = bearer("doctor"), bearer("scheduler")
    technician = bearer("technician")
    technician_user = bearer.user
    radiologist = bearer("radiologist")
    radiologist_user = bearer.user
    created = client.post(ORDERS, json=order_payload(), headers=doctor)
    assert created.status_code == 201
    order = created.json
    assert order["accession_number"].startswith("ACC-") and order["order_number"].startswith("ORD-")
    assert order["status"] == "ordered" and order["version"] == 1 and order["study_instance_uid"].startswith("2.25.")
    assert created.headers["ETag"] == '"1"'
    assert created.headers["Location"] == f"{ORDERS}/{order['id']}"
    assert created.headers["Cache-Control"] == "no-store"
    assert set(order["allowed_actions"]) == {"cancel", "edit", "note"}
    url = f"{ORDERS}/{order['id']}"

    steps = [
        (scheduler, {"status": "scheduled", "scheduled_date": tomorrow()}, "scheduled"),
        (technician, {"status": "in_progress", "note": "Patient on table"}, "in_progress"),
        (technician, {"status": "completed", "number_of_images": 3}, "completed"),
        (radiologist, {"status": "reported", "findings": "Clear lungs.", "impression": "Normal chest."}, "reported"),
    ]
    etag = created.headers["ETag"]
    for headers, body, expected in steps:
        response = client.patch(f"{url}/status", json=body, headers=headers | {"If-Match": etag})
        assert response.status_code == 200, response.json
        assert response.json["status"] == expected
        etag = response.headers["ETag"]
    final = client.get(url, headers=doctor).json
    assert final["version"] == 5 and final["number_of_images"] == 3 and final["impression"] == "Normal chest."
    assert final["performing_technician"] == str(technician_user.id)
    assert final["reporting_radiologist"] == str(radiologist_user.id)
    assert final["reported_date"] and final["performed_date"] and final["scheduled_date"]
    by_accession = client.get(f"{ORDERS}/accession/{order['accession_number'].lower()}", headers=technician)
    assert by_accession.status_code == 200 and by_accession.json["id"] == order["id"]
    assert by_accession.headers["ETag"] == '"5"'
    problem(client.delete(url, json={"reason": "too late"}, headers=doctor), 409)


def test_put_edits_details_and_honours_if_match(client, bearer, make_order):
    doctor = bearer("doctor")
    order = make_order("ordered")
    url = f"{ORDERS}/{order.id}"
    edited = client.put(url, json={"priority": "stat", "clinical_history": "Smoker"}, headers=doctor | {"If-Match": '"1"'})
    assert edited.status_code == 200
    assert edited.json["priority"] == "stat" and edited.json["clinical_history"] == "Smoker"
    assert edited.json["clinical_indication"] == "Suspected pneumonia"  # left out: kept
    assert edited.headers["ETag"] == '"2"'
    stale = problem(client.put(url, json={"priority": "urgent"}, headers=doctor | {"If-Match": '"1"'}), 412)
    assert stale["current_version"] == 2
    problem(client.put(url, json={"priority": "urgent"}, headers=doctor | {"If-Match": '"nonsense"'}), 412)
    assert client.put(url, json={"priority": "urgent"}, headers=doctor | {"If-Match": "*"}).status_code == 200
    problem(client.put(url, json={"priority": "routine"}, headers=doctor), 428)  # If-Match is required
    assert client.get(url, headers=doctor).json["version"] == 3


def test_two_patches_with_the_same_etag(client, bearer, make_order):
    scheduler = bearer("scheduler")
    order = make_order("ordered")
    url = f"{ORDERS}/{order.id}/status"
    etag = client.get(f"{ORDERS}/{order.id}", headers=scheduler).headers["ETag"]
    body = {"status": "scheduled", "scheduled_date": tomorrow()}
    first = client.patch(url, json=body, headers=scheduler | {"If-Match": etag})
    second = client.patch(url, json=body, headers=scheduler | {"If-Match": etag})
    assert first.status_code == 200
    problem(second, 412)


def test_delete_cancels_and_keeps_the_order(client, bearer, make_order):
    doctor = bearer("doctor")
    order = make_order("scheduled")
    url = f"{ORDERS}/{order.id}"
    body = problem(client.delete(url, json={}, headers=doctor), 422)
    assert "reason" in body["errors"]
    response = client.delete(url, json={"reason": "Patient declined"}, headers=doctor | {"If-Match": '"2"'})
    assert response.status_code == 200
    assert response.json["status"] == "cancelled" and response.json["cancellation_reason"] == "Patient declined"
    assert client.get(url, headers=doctor).json["status"] == "cancelled"
    problem(client.delete(url, json={"reason": "again"}, headers=doctor), 409)


def test_lists_filter_and_page_with_a_cursor(client, bearer, make_order, make_visit, make_patient):
    headers = bearer("scheduler")
    patient = make_patient(first_name="Zelda", last_name="Quinn", mrn="MRN-Z-1")
    visit = make_visit(patient=patient)
    mine = [make_order(visit=visit, modality="CT", body_part="HEAD", procedure_code="70450") for _ in range(3)]
    others = [make_order(), make_order("scheduled", priority="stat")]
    seen, cursor = [], None
    while True:
        response = client.get(ORDERS, query_string={"limit": 2} | ({"cursor": cursor} if cursor else {}), headers=headers)
        assert response.status_code == 200 and len(response.json["items"]) <= 2
        seen += [item["id"] for item in response.json["items"]]
        cursor = response.json["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5
    ordered_dates = [client.get(f"{ORDERS}/{i}", headers=headers).json["ordered_date"] for i in seen]
    assert ordered_dates == sorted(ordered_dates, reverse=True)  # newest first

    def ids(path, **query):
        response = client.get(path, query_string=query, headers=headers)
        assert response.status_code == 200, response.json
        return {item["id"] for item in response.json["items"]}

    assert ids(ORDERS, modality="CT") == {str(o.id) for o in mine}
    assert ids(ORDERS, status="scheduled") == {str(others[1].id)}
    assert ids(ORDERS, priority="stat") == {str(others[1].id)}
    assert ids(ORDERS, q="quinn") == ids(ORDERS, q="MRN-Z-1") == {str(o.id) for o in mine}
    assert ids(ORDERS, q=mine[0].accession_number) == {str(mine[0].id)}
    today = datetime.now(UTC).date()
    assert len(ids(ORDERS, date_from=today.isoformat(), date_to=today.isoformat())) == 5
    assert ids(ORDERS, date_to=(today - timedelta(days=2)).isoformat()) == set()
    assert ids(f"{ORDERS}/patient/{patient.id}") == {str(o.id) for o in mine}
    assert ids(f"{ORDERS}/patient/{patient.id}", status="cancelled") == set()
    assert ids(f"{ORDERS}/visit/{visit.id}", limit=1) <= {str(o.id) for o in mine}
    assert ids(f"{ORDERS}/visit/{others[0].visit_id}") == {str(others[0].id)}
    assert client.get(ORDERS, headers=headers).json["next_cursor"] is None  # limit defaults to 50


@pytest.mark.parametrize("query, field", [
    ({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"limit": "x"}, "limit"), ({"status": "lost"}, "status"),
    ({"priority": "asap"}, "priority"), ({"date_from": "yesterday"}, "date_from"), ({"cursor": "garbage!"}, "cursor"),
    ({"date_from": "2026-02-02", "date_to": "2026-01-01"}, "date_to"), ({"q": "x" * 101}, "q"),
])
def test_bad_list_filters_are_422(client, bearer, query, field):
    body = problem(client.get(ORDERS, query_string=query, headers=bearer("doctor")), 422)
    assert field in body["errors"]


def test_reference_data_for_every_signed_in_role(client, bearer):
    for role in Role:
        headers = bearer(str(role))
        modalities = client.get("/api/v1/imaging/modalities", headers=headers)
        body_parts = client.get("/api/v1/imaging/body-parts", headers=headers)
        assert modalities.status_code == body_parts.status_code == 200
        assert {"XRAY", "CT", "MRI", "US", "MG", "FL"} <= {m["code"] for m in modalities.json["items"]}
        chest = next(b for b in body_parts.json["items"] if b["code"] == "CHEST")
        assert chest["modalities"] == ["XRAY", "CT"]
    problem(client.get("/api/v1/imaging/modalities"), 401)


@pytest.mark.parametrize("role", [str(r) for r in Role])
def test_roles_on_every_order_endpoint(client, bearer, make_order, order_payload, role):
    """Reads: every staff role, not the wall display. Writes: what the transition table says."""
    order = make_order("ordered")
    headers = bearer(role)
    url = f"{ORDERS}/{order.id}"
    reads = [ORDERS, url, f"{ORDERS}/accession/{order.accession_number}", f"{ORDERS}/patient/{order.patient_id}",
             f"{ORDERS}/visit/{order.visit_id}"]
    for path in reads:
        response = client.get(path, headers=headers)
        if role == "display":
            problem(response, 403)
        else:
            assert response.status_code == 200, (path, response.json)
    create = client.post(ORDERS, json=order_payload(), headers=headers)
    assert create.status_code == (201 if role == "doctor" else 403)
    edit = client.put(url, json={"priority": "urgent"}, headers=headers | {"If-Match": '"1"'})
    assert edit.status_code == (200 if role in ("doctor", "admin") else 403)
    schedule = client.patch(f"{url}/status", json={"status": "scheduled", "scheduled_date": tomorrow()}, headers=headers)
    assert schedule.status_code == (200 if role == "scheduler" else 403)
    cancel = client.delete(url, json={"reason": "Duplicate request"}, headers=headers)
    assert cancel.status_code == (200 if role in ("doctor", "admin") else 403)
    if cancel.status_code == 403:
        assert cancel.mimetype == PROBLEM


def test_step_roles_come_from_the_transition_table(client, bearer, make_order):
    order = make_order("scheduled")
    url = f"{ORDERS}/{order.id}/status"
    problem(client.patch(url, json={"status": "in_progress"}, headers=bearer("radiologist")), 403)
    problem(client.patch(url, json={"status": "in_progress"}, headers=bearer("scheduler")), 403)
    assert client.patch(url, json={"status": "in_progress"}, headers=bearer("technician")).status_code == 200
    problem(client.patch(url, json={"status": "reported", "findings": "a", "impression": "b"},
                         headers=bearer("radiologist")), 409)


def test_error_statuses(client, bearer, make_order, order_payload, app):
    doctor = bearer("doctor")
    order = make_order("ordered")
    url = f"{ORDERS}/{order.id}"
    # 400: not JSON, no body, wrong content type, nesting too deep
    problem(client.post(ORDERS, data="{not json", content_type="application/json", headers=doctor), 400)
    problem(client.post(ORDERS, headers=doctor), 400)
    problem(client.post(ORDERS, data="modality=CT", content_type="application/x-www-form-urlencoded", headers=doctor), 400)
    problem(client.post(ORDERS, data="[" * 50000 + "]" * 50000, content_type="application/json", headers=doctor), 400)
    # 401: no token, bad scheme, forged token
    problem(client.get(url), 401)
    problem(client.get(url, headers={"Authorization": "Basic ZG9jOnB3"}), 401)
    assert problem(client.get(url, headers={"Authorization": "Bearer forged.token.here"}), 401)
    assert client.get(url).headers["WWW-Authenticate"].startswith("Bearer")
    # 404: unknown id, not an id, unknown accession number, unknown patient and visit
    problem(client.get(f"{ORDERS}/{uuid.uuid4()}", headers=doctor), 404)
    problem(client.get(f"{ORDERS}/not-a-uuid", headers=doctor), 404)
    problem(client.get(f"{ORDERS}/accession/ACC-1999-99999", headers=doctor), 404)
    problem(client.get(f"{ORDERS}/accession/{'A' * 30}", headers=doctor), 404)
    problem(client.get(f"{ORDERS}/patient/{uuid.uuid4()}", headers=doctor), 404)
    problem(client.get(f"{ORDERS}/visit/{uuid.uuid4()}", headers=doctor), 404)
    problem(client.post(ORDERS, json=order_payload() | {"visit_id": str(uuid.uuid4())}, headers=doctor), 404)
    problem(client.patch(f"{ORDERS}/{uuid.uuid4()}/status", json={"status": "scheduled"}, headers=doctor), 404)
    # 404 and 405 for unknown routes and wrong methods under /api
    problem(client.get("/api/v1/no-such-thing", headers=doctor), 404)
    problem(client.get("/api/nothing"), 404)
    wrong = problem(client.post(url, json={}, headers=doctor), 405)
    assert wrong["title"] == "Method Not Allowed"
    assert "GET" in client.post(url, json={}, headers=doctor).headers["Allow"]
    # 409: a transition that does not exist
    problem(client.patch(f"{url}/status", json={"status": "completed"}, headers=bearer("technician")), 409)
    # 413: body too large
    big = order_payload(clinical_history="x" * (app.config["MAX_CONTENT_LENGTH"] + 10))
    problem(client.post(ORDERS, json=big, headers=doctor), 413)
    # 422: field values
    body = problem(client.post(ORDERS, json=order_payload(modality="PET", body_part="KNEE"), headers=doctor), 422)
    assert {"modality", "body_part"} <= set(body["errors"])
    body = problem(client.post(ORDERS, json=order_payload(clinical_indication="x" * 2001), headers=doctor), 422)
    assert "clinical_indication" in body["errors"]
    body = problem(client.post(ORDERS, json=order_payload(priority="asap", surprise=1), headers=doctor), 422)
    assert {"priority", "surprise"} <= set(body["errors"])
    body = problem(client.post(ORDERS, json=order_payload(body_part="EXTREMITY", procedure_code="73130"),
                               headers=doctor), 422)
    assert "laterality" in body["errors"]
    body = problem(client.patch(f"{url}/status", json={"status": "scheduled", "scheduled_date": "2026-12-01T10:00:00"},
                                headers=bearer("scheduler")), 422)
    assert "scheduled_date" in body["errors"]
    problem(client.post(ORDERS, json=["a list"], headers=doctor), 422)
    # nothing half-written: the order is as it was
    assert client.get(url, headers=doctor).json["version"] == 1
    assert len(client.get(ORDERS, headers=doctor).json["items"]) == 1


def test_report_needs_findings_and_impression(client, bearer, make_order):
    order = make_order("completed")
    body = problem(client.patch(f"{ORDERS}/{order.id}/status", json={"status": "reported", "findings": "  "},
                                headers=bearer("radiologist")), 422)
    assert {"findings", "impression"} <= set(body["errors"])


def test_api_changes_are_published_after_commit_only(client, bearer, make_order, monkeypatch):
    published = []
    monkeypatch.setattr("webapp.events.publishing.publish_signals", lambda signals, *_type: published.extend(signals))
    order = make_order("ordered")
    scheduler = bearer("scheduler")
    published.clear()  # the order's creation
    url = f"{ORDERS}/{order.id}/status"
    problem(client.patch(url, json={"status": "scheduled"}, headers=scheduler), 422)  # no date: nothing changes
    problem(client.patch(url, json={"status": "scheduled", "scheduled_date": tomorrow()},
                         headers=scheduler | {"If-Match": '"7"'}), 412)
    assert published == []
    response = client.patch(url, json={"status": "scheduled", "scheduled_date": tomorrow()}, headers=scheduler)
    assert response.status_code == 200
    assert [(s["id"], s["status"], s["version"]) for s in published] == [(str(order.id), "scheduled", 2)]
