"""Orders from an EHR: python-hl7's MLLP client sends ORM^O01 to our listener (flask hl7 listen)."""

from __future__ import annotations

import hl7
import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.imaging.models import ImagingOrder
from webapp.patients.models import Patient
from webapp.visits.models import Visit


@pytest.fixture
def app_config():
    return {}  # no receivers: these tests are about messages coming in


@pytest.fixture
def published(monkeypatch):
    """Signals published after each commit (the live events), in order."""
    from webapp.events import publishing

    sent = []
    monkeypatch.setattr(publishing, "publish_signals", lambda signals, *_type: sent.extend(signals) or len(signals))
    return sent


def orm(control: str = "NW", *, control_id: str = "MSG1", placer: str = "EHR-1001", accession: str = "",
        provider: str = "drhouse^House^Gregory", mrn: str = "EHR555", visit: str = "V-9001",
        procedure: str = "71046^XR chest 2 views^C4", reason: str = "Cough and fever", priority: str = "S",
        message_type: str = "ORM^O01^ORM_O01", name: str = "Nguyen^Linh", born: str = "19810412",
        charset: str = "") -> str:
    return "\r".join([
        f"MSH|^~\\&|EPIC|GENERAL|IMAGINGORDERS|RADIOLOGY|20260301101500||{message_type}|{control_id}|P|2.5.1"
        + (f"||||||{charset}" if charset else ""),
        f"PID|1||{mrn}^^^GENERAL^MR||{name}||{born}|F",
        f"PV1|1|O|||||||||||||||||{visit}",
        f"ORC|{control}|{placer}|{accession}|||||||||{provider}",
        f"OBR|1|{placer}||{procedure}||||||||||||{provider}|||||||||||^^^^^{priority}||||^{reason}",
        "DG1|1||R05.9^Cough, unspecified^I10|||W",
    ])


def _msa(ack: hl7.Message) -> tuple[str, str, str]:
    msa = ack.segment("MSA")
    return str(msa(1)), str(msa(2)), ack.unescape(str(msa(3)))


def test_a_new_order_from_the_ehr_is_placed_and_acknowledged(app, make_user, send, published):
    doctor = make_user("doctor", username="drhouse")
    ack = send(orm())
    code, control_id, text = _msa(ack)
    assert (code, control_id) == ("AA", "MSG1"), str(ack)
    with app.app_context():
        order = db.session.scalars(select(ImagingOrder)).one()
        assert text == order.accession_number
        assert (order.ordered_by, order.status, order.priority, order.modality, order.procedure_code) == (
            doctor.id, "ordered", "stat", "XRAY", "71046")
        assert order.clinical_indication == "Cough and fever"
        assert (order.patient.mrn, order.patient.last_name, order.patient.sex) == ("EHR555", "Nguyen", "female")
        assert order.diagnosis.code == "R05.9"
        assert order.events[0].actor_label.startswith(doctor.full_name or doctor.username)
        assert "HL7 from EPIC" in order.events[0].actor_label
    # Published after the commit like any other change (the wall shows it live).
    assert [(s["accession_number"], s["status"]) for s in published] == [(text, "ordered")]

    # The EHR sends it again (no ACK seen): the same order, nothing new.
    again = send(orm(control_id="MSG1-RESEND"))
    assert _msa(again) == ("AA", "MSG1-RESEND", text)
    # A second order in the same visit of the same patient.
    second = send(orm(control_id="MSG2", placer="EHR-1002", procedure="70450^CT head^C4", priority="R"))
    assert _msa(second)[0] == "AA"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ImagingOrder)) == 2
        assert db.session.scalar(select(func.count()).select_from(Patient)) == 1
        assert db.session.scalar(select(func.count()).select_from(Visit)) == 1


def test_cancel_from_the_ehr(app, make_user, send):
    make_user("doctor", username="drhouse")
    accession = _msa(send(orm()))[2]
    by_placer = send(orm("CA", control_id="C1"))
    assert _msa(by_placer) == ("AA", "C1", accession)
    with app.app_context():
        order = db.session.scalars(select(ImagingOrder)).one()
        assert order.status == "cancelled"
    assert _msa(send(orm("CA", control_id="C2", placer="", accession=accession)))[0] == "AA"  # already cancelled
    unknown = send(orm("CA", control_id="C3", placer="", accession="ACC-1999-99999"))
    assert _msa(unknown)[0] == "AE" and "No order" in _msa(unknown)[2]


@pytest.mark.parametrize(("change", "code", "says"), [
    ({"provider": "nobody^No^One"}, "AR", "Unknown ordering provider"),
    ({"procedure": "99999^Nothing^C4"}, "AE", "Unknown procedure code"),
    ({"mrn": ""}, "AE", "PID-3"),
    ({"reason": "", "procedure": "71046^XR chest^C4"}, "AE", None),
    ({"message_type": "ORU^R01^ORU_R01"}, "AR", "ORU^R01"),
    ({"control": "XO"}, "AR", "Order control XO"),
    ({"placer": ""}, "AE", "ORC-2"),
])
def test_a_message_that_cannot_be_taken_changes_nothing(app, make_user, send, published, change, code, says):
    make_user("doctor", username="drhouse")
    make_user("scheduler", username="scheduler1")
    text = orm(**change)
    if change.get("reason") == "":
        text = text.replace("\rDG1|1||R05.9^Cough, unspecified^I10|||W", "")
    ack = send(text)
    assert _msa(ack)[0] == code, str(ack)
    if says:
        assert says in _msa(ack)[2], str(ack)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ImagingOrder)) == 0
        assert db.session.scalar(select(func.count()).select_from(Patient)) == 0
        assert db.session.scalar(select(func.count()).select_from(Visit)) == 0
    assert published == []


def test_a_provider_who_is_not_a_doctor_is_refused(app, make_user, send):
    make_user("scheduler", username="drhouse")
    assert _msa(send(orm()))[0] == "AR"


def test_garbage_is_answered_not_dropped(send):
    ack = send("this is not HL7")
    assert _msa(ack)[0] == "AR"


def test_an_existing_patient_and_visit_are_used(app, make_user, make_visit, send):
    make_user("doctor", username="drhouse")
    visit = make_visit()
    with app.app_context():
        mrn = db.session.get(Patient, visit.patient_id).mrn
    assert _msa(send(orm(mrn=mrn, visit=str(visit.id), name="Garcia^Maria", born="19800517")))[0] == "AA"
    other = make_visit()
    refused = send(orm(mrn=mrn, visit=str(other.id), placer="EHR-2", control_id="M2", name="Garcia^Maria",
                       born="19800517"))
    assert _msa(refused)[0] == "AE" and "another patient" in _msa(refused)[2]
    with app.app_context():
        order = db.session.scalars(select(ImagingOrder)).one()
        assert (order.patient_id, order.visit_id) == (visit.patient_id, visit.id)
