"""The reporting rows of the contract (/api/v1): report draft, sign, addenda, critical results and
their acknowledgement, turnaround figures; who may call each."""

from __future__ import annotations

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.imaging.models import OrderEvent


def report_url(order):
    return f"/api/v1/imaging/orders/{order.id}/report"


def draft(client, headers, order, **sections):
    return client.put(report_url(order), json=sections, headers=headers)


def events_of(app, order):
    with app.app_context():
        return list(db.session.scalars(select(OrderEvent.event_type).where(OrderEvent.order_id == order.id)
                                       .order_by(OrderEvent.id)))


def test_draft_is_saved_read_back_and_no_order_change(app, client, make_order, people, token):
    order = make_order("completed")
    radiologist = token(people("radiologist"))
    empty = client.get(report_url(order), headers=radiologist)
    assert empty.status_code == 200 and empty.json["state"] == "draft" and empty.json["findings"] is None
    saved = draft(client, radiologist, order, technique="PA and lateral.", findings="Clear lungs.",
                  template_code="XRAY-CHEST")
    assert saved.status_code == 200
    assert saved.json | {"updated_at": None} == {
        "state": "draft", "technique": "PA and lateral.", "comparison": None, "findings": "Clear lungs.",
        "impression": None, "template_code": "XRAY-CHEST", "updated_at": None, "signed_by": None, "signed_at": None,
        "addenda": [], "draft_version": 1, "fields": None}
    # Sections left out keep their text.
    again = draft(client, radiologist, order, impression="Normal.")
    assert again.json["findings"] == "Clear lungs." and again.json["impression"] == "Normal."
    assert client.get(report_url(order), headers=radiologist).json["impression"] == "Normal."
    # A draft is no change to the order: same version, no event.
    got = client.get(f"/api/v1/imaging/orders/{order.id}", headers=radiologist).json
    assert got["version"] == order.version and got["status"] == "completed"
    assert events_of(app, order)[-1] == "complete"


def test_draft_roles_and_states(client, make_order, people, token):
    order = make_order("completed")
    draft(client, token(people("radiologist")), order, findings="Secret draft.")
    for role in ("technician", "doctor", "admin", "scheduler"):
        headers = token(role)
        assert client.get(report_url(order), headers=headers).status_code == 403, role
        assert draft(client, headers, order, findings="x").status_code == 403, role
    display = token("display")
    assert client.get(report_url(order), headers=display).status_code == 403
    # Only a completed order takes a draft.
    scheduled = make_order("scheduled")
    refused = draft(client, token("radiologist"), scheduled, findings="x")
    assert refused.status_code == 409 and refused.content_type == "application/problem+json"
    # Bad input: 422, never a 500.
    assert draft(client, token("radiologist"), order, findings=5).status_code == 422
    assert draft(client, token("radiologist"), order, template_code="NOPE").json["errors"] == {
        "template_code": "No active report template has this code."}
    assert draft(client, token("radiologist"), order, colour="red").status_code == 422
    assert client.get("/api/v1/imaging/orders/00000000-0000-0000-0000-000000000000/report",
                      headers=token("radiologist")).status_code == 404


def test_sign_makes_the_order_reported_and_the_report_final(app, client, make_order, people, token):
    doctor = people("doctor")
    order = make_order("completed", doctor=doctor)
    radiologist = token(people("radiologist"))
    sign = f"{report_url(order)}/sign"
    draft(client, radiologist, order, technique="Single view.", findings="Clear lungs.")
    missing = client.post(sign, json={}, headers=radiologist)
    assert missing.status_code == 422 and "impression" in missing.json["errors"]
    draft(client, radiologist, order, impression="Normal.")
    assert client.post(sign, json={}, headers=token("technician")).status_code == 403
    signed = client.post(sign, json={}, headers=radiologist)
    assert signed.status_code == 200, signed.json
    assert signed.json["status"] == "reported" and signed.json["findings"] == "Clear lungs."
    assert signed.json["impression"] == "Normal." and signed.json["addenda"] == []
    assert signed.headers["ETag"] == f'"{signed.json["version"]}"'
    # The final report: anyone who may see the order, with who signed it.
    final = client.get(report_url(order), headers=token("technician")).json
    assert final["state"] == "final" and final["technique"] == "Single view." and final["signed_by"]
    assert final["signed_at"] == signed.json["reported_date"]
    assert client.get(report_url(order), headers=token("display")).status_code == 403
    # Signed is final: no second signature, no draft.
    assert client.post(sign, json={}, headers=radiologist).status_code == 409
    assert draft(client, radiologist, order, findings="changed").status_code == 409
    assert events_of(app, order)[-1] == "report"


def test_sign_with_a_critical_finding_raises_a_critical_result(client, make_order, people, token):
    doctor = people("doctor")
    order = make_order("completed", doctor=doctor)
    radiologist = token(people("radiologist"))
    draft(client, radiologist, order, findings="Large pneumothorax.", impression="Pneumothorax.")
    no_note = client.post(f"{report_url(order)}/sign", json={"critical": True}, headers=radiologist)
    assert no_note.status_code == 422 and "critical_note" in no_note.json["errors"]
    signed = client.post(f"{report_url(order)}/sign", json={"critical": True, "critical_note": "Tension pneumothorax"},
                         headers=radiologist)
    assert signed.status_code == 200
    mine = client.get("/api/v1/critical-results?state=open", headers=token(doctor)).json
    assert [(i["order_id"], i["accession_number"], i["note"], i["acknowledged_by"]) for i in mine["items"]] == [
        (str(order.id), order.accession_number, "Tension pneumothorax", None)]
    assert mine["next_cursor"] is None and mine["items"][0]["raised_by"] and mine["items"][0]["raised_at"]


def test_patch_status_with_findings_still_reports(client, make_order, token, people):
    order = make_order("completed")
    response = client.patch(f"/api/v1/imaging/orders/{order.id}/status", headers=token(people("radiologist")),
                            json={"status": "reported", "findings": "Clear.", "impression": "Normal."})
    assert response.status_code == 200 and response.json["status"] == "reported"
    assert client.get(report_url(order), headers=token("doctor")).json["findings"] == "Clear."


def test_addenda(app, client, make_order, token, people):
    order = make_order("reported")
    radiologist = token(people("radiologist"))
    url = f"/api/v1/imaging/orders/{order.id}/addenda"
    before = make_order("completed")
    assert client.post(f"/api/v1/imaging/orders/{before.id}/addenda", json={"text": "x"},
                       headers=radiologist).status_code == 409
    assert client.post(url, json={"text": "x"}, headers=token("doctor")).status_code == 403
    assert client.post(url, json={"text": ""}, headers=radiologist).status_code == 422
    created = client.post(url, json={"text": "Also a rib fracture.", "critical": False}, headers=radiologist)
    assert created.status_code == 201
    assert created.json["text"] == "Also a rib fracture." and created.json["author"] and created.json["created_at"]
    got = client.get(f"/api/v1/imaging/orders/{order.id}", headers=token("technician")).json
    assert got["status"] == "reported" and got["version"] == order.version + 1
    assert [(a["text"], a["author"]) for a in got["addenda"]] == [("Also a rib fracture.", created.json["author"])]
    listed = client.get("/api/v1/imaging/orders?status=reported", headers=token("doctor")).json["items"]
    assert [a["text"] for o in listed if o["id"] == str(order.id) for a in o["addenda"]] == ["Also a rib fracture."]
    assert client.get(report_url(order), headers=token("doctor")).json["addenda"][0]["text"] == "Also a rib fracture."
    assert events_of(app, order)[-1] == "addendum"


def test_critical_results_list_and_acknowledge(app, client, make_order, token, people, make_user):
    doctor = people("doctor")
    other_doctor = make_user("doctor")
    order = make_order("reported", doctor=doctor)
    radiologist = token(people("radiologist"))
    assert client.post(f"/api/v1/imaging/orders/{order.id}/addenda", headers=radiologist,
                       json={"text": "Missed bleed.", "critical": True, "critical_note": "Subdural"}).status_code == 201
    admin = token("admin")
    items = client.get("/api/v1/critical-results", headers=admin).json["items"]
    assert [i["note"] for i in items] == ["Subdural"]
    critical_id = items[0]["id"]
    # Theirs only for doctors; nobody else lists them.
    assert client.get("/api/v1/critical-results", headers=token(other_doctor)).json["items"] == []
    for role in ("radiologist", "technician", "scheduler", "display"):
        assert client.get("/api/v1/critical-results", headers=token(role)).status_code == 403, role
        assert client.post(f"/api/v1/critical-results/{critical_id}/acknowledge", json={},
                           headers=token(role)).status_code == 403, role
    assert client.get("/api/v1/critical-results?state=later", headers=admin).status_code == 422
    assert client.post("/api/v1/critical-results/999999/acknowledge", json={}, headers=admin).status_code == 404
    # Another doctor acknowledges on the ordering doctor's behalf; a second time is a conflict.
    done = client.post(f"/api/v1/critical-results/{critical_id}/acknowledge", json={}, headers=token(other_doctor))
    assert done.status_code == 200 and done.json["acknowledged_at"] and done.json["on_behalf"] is True
    assert done.json["acknowledged_by"] == other_doctor.display_name
    again = client.post(f"/api/v1/critical-results/{critical_id}/acknowledge", json={}, headers=token(doctor))
    assert again.status_code == 409 and again.content_type == "application/problem+json"
    assert client.get("/api/v1/critical-results?state=open", headers=token(doctor)).json["items"] == []
    acknowledged = client.get("/api/v1/critical-results?state=acknowledged", headers=token(doctor)).json["items"]
    assert [i["id"] for i in acknowledged] == [critical_id]
    assert events_of(app, order)[-2:] == ["addendum", "acknowledge"]


def test_critical_results_page_with_a_cursor(client, make_order, token, people):
    doctor = people("doctor")
    radiologist = token(people("radiologist"))
    for _ in range(3):
        order = make_order("reported", doctor=doctor)
        client.post(f"/api/v1/imaging/orders/{order.id}/addenda", headers=radiologist,
                    json={"text": "More.", "critical": True, "critical_note": "Bad"})
    headers = token(doctor)
    first = client.get("/api/v1/critical-results?limit=2", headers=headers).json
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = client.get(f"/api/v1/critical-results?limit=2&cursor={first['next_cursor']}", headers=headers).json
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert client.get("/api/v1/critical-results?cursor=abc", headers=headers).status_code == 422


def test_turnaround_roles_and_period(client, token):
    for role, status in (("admin", 200), ("doctor", 200), ("technician", 403), ("display", 403)):
        assert client.get("/api/v1/metrics/turnaround", headers=token(role)).status_code == status, role
    body = client.get("/api/v1/metrics/turnaround?from=2026-01-01&to=2026-01-31", headers=token("admin")).json
    assert set(body["intervals"]) == {"ordered_to_scheduled", "scheduled_to_started", "started_to_completed",
                                      "completed_to_reported", "ordered_to_reported", "critical_to_acknowledged"}
    assert client.get("/api/v1/metrics/turnaround?from=2026-02-01&to=2026-01-01",
                      headers=token("admin")).status_code == 422
    assert client.get("/api/v1/metrics/turnaround?from=yesterday", headers=token("admin")).status_code == 422


def test_openapi_document_lists_the_reporting_operations(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert {"get", "put"} <= set(paths["/api/v1/imaging/orders/{id}/report"])
    for path in ("/api/v1/imaging/orders/{id}/report/sign", "/api/v1/imaging/orders/{id}/addenda",
                 "/api/v1/critical-results/{id}/acknowledge"):
        assert "post" in paths[path], path
    assert "get" in paths["/api/v1/critical-results"] and "get" in paths["/api/v1/metrics/turnaround"]


def test_event_count_is_one_per_sign(app, client, make_order, people, token):
    order = make_order("completed")
    radiologist = token(people("radiologist"))
    for text in ("a", "ab", "abc"):  # autosaves
        draft(client, radiologist, order, findings=text, impression="Normal.")
    client.post(f"{report_url(order)}/sign", json={}, headers=radiologist)
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(OrderEvent).where(OrderEvent.order_id == order.id))
    assert count == 5  # created, scheduled, started, completed, reported: no event per draft
