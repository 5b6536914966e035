"""Trainees and co-signature (issue 24 item 3): a trainee's signature makes a preliminary report
(API state preliminary, FHIR DiagnosticReport.status preliminary, HL7 OBR-25 P, HL7 v2.5.1 table
0123); an attending co-signs it (final, order reported); a changed impression is flagged."""

from __future__ import annotations

from tests.reporting.test_api import draft, events_of, report_url
from webapp.extensions import db
from webapp.outbox.models import OutboxMessage


def _preliminary(client, make_order, make_user, token, people):
    doctor = people("doctor")
    order = make_order("completed", doctor=doctor)
    trainee = token(make_user("radiologist", full_name="Tess Trainee", is_trainee=True))
    draft(client, trainee, order, findings="Opacity right lower lobe.", impression="Pneumonia.")
    version = client.get(report_url(order), headers=trainee).json["draft_version"]
    signed = client.post(f"{report_url(order)}/sign", json={"draft_version": version}, headers=trainee)
    assert signed.status_code == 200, signed.json
    return order, doctor, trainee, signed.json


def test_a_trainees_signature_is_preliminary_and_the_ordering_doctor_sees_it(app, client, make_order, make_user,
                                                                             token, people, auth):
    order, doctor, trainee, signed = _preliminary(client, make_order, make_user, token, people)
    assert signed["status"] == "completed" and signed["report_state"] == "preliminary"
    seen = client.get(report_url(order), headers=token(doctor))
    assert seen.status_code == 200 and seen.json["state"] == "preliminary" and seen.json["impression"] == "Pneumonia."
    assert seen.json["signed_by"] == "Tess Trainee" and seen.json["signed_at"]
    got = client.get(f"/api/v1/imaging/orders/{order.id}", headers=token(doctor)).json
    assert (got["status"], got["report_state"], got["reported_date"]) == ("completed", "preliminary", None)
    assert events_of(app, order)[-1] == "preliminary"
    # A trainee neither co-signs nor reports by PATCH; nobody drafts over a preliminary report.
    assert client.post(f"{report_url(order)}/cosign", headers=trainee).status_code == 403
    other = make_order("completed")
    assert client.patch(f"/api/v1/imaging/orders/{other.id}/status", headers=trainee,
                        json={"status": "reported", "findings": "x", "impression": "y"}).status_code == 403
    assert draft(client, token(people("radiologist")), order, findings="over it").status_code == 409
    auth.login(doctor)
    page = client.get(f"/imaging/orders/{order.id}").get_data(as_text=True)
    assert "Preliminary: awaiting an attending" in page and "Pneumonia." in page


def test_the_attending_co_signs_with_edits_and_a_changed_impression_is_flagged(app, client, make_order, make_user,
                                                                                 token, people, auth):
    order, doctor, trainee, _ = _preliminary(client, make_order, make_user, token, people)
    attending = token(people("radiologist"))
    # Another radiologist holds no claim on it: co-signing needs none.
    cosigned = client.post(f"{report_url(order)}/cosign", json={"impression": "Lung abscess."}, headers=attending)
    assert cosigned.status_code == 200, cosigned.json
    assert (cosigned.json["status"], cosigned.json["report_state"]) == ("reported", "final")
    assert cosigned.json["impression_changed"] is True and cosigned.json["findings"] == "Opacity right lower lobe."
    final = client.get(report_url(order), headers=token(doctor)).json
    assert final["state"] == "final" and final["impression"] == "Lung abscess."
    assert events_of(app, order)[-2:] == ["preliminary", "cosign"]
    assert client.post(f"{report_url(order)}/cosign", headers=attending).status_code == 409
    with app.app_context():
        from webapp.imaging.models import OrderEvent

        event = db.session.query(OrderEvent).filter_by(order_id=order.id, event_type="cosign").one()
        assert event.changes["impression_changed"] == {"from": "Pneumonia.", "to": "Lung abscess."}
    auth.login(doctor)
    page = client.get(f"/imaging/orders/{order.id}").get_data(as_text=True)
    assert "The impression changed since the preliminary report" in page and "Preliminary: awaiting" not in page


def test_co_signing_unchanged_is_not_flagged_and_without_a_preliminary_is_409(client, make_order, make_user, token,
                                                                              people):
    order, *_ = _preliminary(client, make_order, make_user, token, people)
    attending = token(people("radiologist"))
    done = client.post(f"{report_url(order)}/cosign", headers=attending)
    assert done.status_code == 200 and done.json["impression_changed"] is False
    plain = make_order("completed")
    assert client.post(f"/api/v1/imaging/orders/{plain.id}/report/cosign", headers=attending).status_code == 409
    assert client.post(f"/api/v1/imaging/orders/{plain.id}/report/cosign", headers=token("doctor")).status_code == 403


def test_hl7_and_fhir_say_preliminary_then_final(app, client, make_order, make_user, token, people, fhir_headers=None):
    app.config["HL7_OUTBOUND"] = ["127.0.0.1:1"]
    try:
        order, doctor, trainee, _ = _preliminary(client, make_order, make_user, token, people)
        report = client.get(f"/fhir/R4/DiagnosticReport/{order.id}", headers=token(doctor))
        assert report.status_code == 200 and report.json["status"] == "preliminary"
        client.post(f"{report_url(order)}/cosign", json={"impression": "Abscess."}, headers=token(people("radiologist")))
        assert client.get(f"/fhir/R4/DiagnosticReport/{order.id}", headers=token(doctor)).json["status"] == "final"
        with app.app_context():
            kinds = [row.kind for row in db.session.query(OutboxMessage).filter_by(order_id=order.id)
                     .order_by(OutboxMessage.id)]
            assert kinds[-2:] == ["ORU^R01 P", "ORU^R01 F"]
            from webapp.hl7.messages import Header, build_message

            last = db.session.query(OutboxMessage).filter_by(order_id=order.id).order_by(OutboxMessage.id.desc()).first()
            text = build_message(last.kind, last.payload, "1", Header())
        obx = [line.split("|") for line in text.split("\r") if line.startswith("OBX|")]
        assert [line[3].split("^")[0] for line in obx] == ["19005-8", "18782-3", "PRELIMCHG"]
        assert "Pneumonia." in obx[2][5]
    finally:
        app.config["HL7_OUTBOUND"] = []
