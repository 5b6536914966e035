"""The safety pages (docs/safety.md): the patient's safety record tab and its form, the order
form's live check, the order page's safety card and actions, the protocol queue, the tablet, the
board, the wall (no names), the requisition. Each refusal changes nothing and says why."""

from __future__ import annotations

import re
from datetime import date, timedelta
from types import SimpleNamespace

from webapp.extensions import db, writing
from webapp.imaging.queries import get_order
from webapp.patients.models import Patient
from webapp.safety import record
from webapp.safety.screening import record_of

RECENT = (date.today() - timedelta(days=2)).isoformat()
CT_CONTRAST = {"modality": "CT", "body_part": "ABDOMEN", "procedure_code": "74177"}


def _contrast(html: str) -> str:
    """The contrast the order form's select has chosen."""
    select = re.search(r'<select[^>]*name="contrast".*?</select>', html, re.S).group(0)
    return re.search(r'<option (?:selected )?value="(\w+)"(?: selected)?>', select[select.index("selected") - 40:]).group(1)


def _version(html: str) -> str:
    return re.search(r'name="version" value="(\d+)"', html).group(1)


def test_the_safety_tab_shows_and_saves_the_record_and_refuses_bad_values(client, auth, make_patient, app):
    patient = make_patient()
    auth.login("technician")
    page = client.get(f"/patients/{patient.id}?tab=safety")
    assert page.status_code == 200 and 'id="safety-form"' in page.text and "Never changed." in page.text
    form = {"version": _version(page.text), "allergy-0-substance": "gadolinium_contrast",
            "allergy-0-reaction": "nausea", "allergy-0-severity": "mild", "allergy-1-substance": "",
            "egfr_value": "28", "egfr_measured_on": RECENT, "pregnancy": "no", "implant-0-name": "Pacemaker",
            "implant-0-mr_safety": "unsafe", "on_metformin": "y", "weight_kg": "81"}
    saved = client.post(f"/patients/{patient.id}/safety", data=form)
    assert saved.status_code == 303
    shown = client.get(f"/patients/{patient.id}?tab=safety").text
    assert "Gadolinium contrast (mild, nausea)" in shown and "Pacemaker (MR unsafe)" in shown and "81 kg" in shown
    assert 'id="safety-trail"' in shown and "(technician)" in shown
    bad = client.post(f"/patients/{patient.id}/safety", data=form | {"version": "1", "egfr_value": "lots"})
    assert bad.status_code == 422 and "nothing was saved" in bad.text and "egfr.value" in bad.text
    stale = client.post(f"/patients/{patient.id}/safety", data=form | {"version": "0", "weight_kg": "90"})
    assert stale.status_code == 409
    with app.app_context():
        assert record_of(patient.id).weight_kg == 81 and record_of(patient.id).version == 1
    auth.login("admin")
    assert 'id="safety-form"' not in client.get(f"/patients/{patient.id}?tab=safety").text
    assert client.post(f"/patients/{patient.id}/safety", data=form).status_code == 403


def _record(app, make_user, patient_id, **values):
    nurse = make_user("technician")
    with app.app_context(), writing():
        from webapp.auth.models import User
        record.save(db.session.get(User, nurse.id), db.session.get(Patient, patient_id), values)
        db.session.commit()


def test_the_order_form_shows_the_alerts_before_submitting(client, auth, make_visit, make_user, app):
    visit = make_visit()
    _record(app, make_user, visit.patient_id, egfr={"value": 28, "measured_on": RECENT})
    auth.login("doctor")
    choices = {"visit_id": str(visit.id), "modality": "CT", "body_part": "ABDOMEN", "procedure_code": "74176"}
    htmx = {"HX-Request": "true", "HX-Target": "order-choices"}
    plain = client.get("/imaging/orders/new", query_string=choices, headers=htmx)
    assert plain.status_code == 200 and "no alerts for this exam" in plain.text
    assert _contrast(plain.text) == "none"
    picked = client.get("/imaging/orders/new", headers=htmx,
                        query_string=choices | {"procedure_code": "74177", "contrast_for": "74176"})
    assert _contrast(picked.text) == "iodinated"  # the new procedure's default
    assert "eGFR 28" in picked.text and "IODINATED_EGFR_BELOW_30" in picked.text and "protocol" in picked.text


def test_order_page_protocol_queue_tablet_board_wall_and_requisition(client, auth, make_order, make_user, app):
    order = make_order("scheduled", **CT_CONTRAST)
    waiting = make_order("ordered", visit=SimpleNamespace(id=order.visit_id, patient_id=order.patient_id), **CT_CONTRAST)
    _record(app, make_user, order.patient_id, pregnancy="possible", weight_kg=64)
    auth.login("radiologist")
    page = client.get(f"/imaging/orders/{order.id}").text
    assert 'id="order-safety"' in page and "Iodinated contrast" in page and "PREGNANCY_IONISING_TRUNK" in page
    assert 'id="action-clear_safety"' in page and 'id="action-protocol"' in page
    queue = client.get("/imaging/protocols")
    assert queue.status_code == 200 and order.accession_number in queue.text
    assert "Portal venous phase" in queue.text
    done = client.post(f"/imaging/protocols/{order.id}", data={"version": _version_of(app, order.id),
                                                                 "protocol": "Portal venous phase", "typed": "",
                                                                 "notes": "Oral contrast"})
    assert done.status_code == 303
    after = client.get("/imaging/protocols").text
    assert "protocoled: Portal venous phase" in after and f'id="protocol-{order.id}"' not in after

    auth.login("doctor")
    assert client.get("/imaging/protocols").status_code == 403
    auth.login("technician")
    tablet = client.get("/imaging/worklist").text
    assert "Portal venous phase" in tablet and "STOP" in tablet and f'id="arrive-{order.id}"' in tablet
    version = _version_of(app, order.id)
    htmx = {"HX-Request": "true"}
    refused = client.post(f"/imaging/worklist/{order.id}/start", data={"version": version}, headers=htmx)
    assert refused.status_code == 409 and "safety stop" in refused.text
    arrived = client.post(f"/imaging/worklist/{order.id}/arrive", data={"version": version}, headers=htmx)
    assert arrived.status_code == 200 and "patient arrived" in arrived.text
    tablet = client.get("/imaging/worklist").text
    assert 'id="worklist-waiting"' in tablet and 'id="waiting-' in tablet
    auth.login("scheduler")
    assert "STOP" in client.get("/imaging/schedule").text
    queue = client.get("/dashboard/to-schedule").text  # the queue shows the stop before anyone books it
    row = queue.split(f'id="queue-row-{waiting.id}"')[1].split("</tr>")[0]
    assert "STOP: pregnancy ionising trunk" in row and "Needs protocol" in row
    auth.login("display")
    wall = client.get("/dashboard/wall").text
    assert 'id="wall-waiting-room"' in wall and 'data-count="1"' in wall.split('id="wall-waiting-room"')[1][:200]
    with app.app_context():
        patient = db.session.get(Patient, order.patient_id)
        assert patient.last_name not in wall
    auth.login("technician")
    pdf = client.get(f"/imaging/orders/{order.id}/requisition.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"


def _version_of(app, order_id) -> int:
    with app.app_context():
        return get_order(order_id).version
