"""Issue 21, defects 1, 2, 6 and 8 at the HL7 edge, sent by a real peer (python-hl7's MLLP client).

The identity rule (docs/interfaces.md#patient-identity): a message is about our patient when
PID-3 (the MRN, any case, and its assigning authority where both sides have one) names it and
its family name (PID-5.1, without accents or case) and birth date (PID-7) agree.
MSH-18 is HL7 v2.5.1 section 2.15.9.18 (character set, table 0211).
"""

from __future__ import annotations

from datetime import date

import hl7
import pytest
from hl7.client import MLLPClient
from sqlalchemy import func, select

from tests.hl7.test_inbound import _msa, orm
from webapp.audit.chain import verify_chain
from webapp.extensions import db
from webapp.imaging.models import ImagingOrder, OrderEvent
from webapp.patients.models import Patient


@pytest.fixture
def app_config():
    return {}


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_a_cancel_naming_another_patient_is_refused_and_shown_on_the_order(app, make_user, send, auth, client):
    """Defect 1: ORC-3 is patient B's order, PID-3 patient A's MRN. Before: AA and B's order cancelled."""
    make_user("doctor", username="drhouse")
    b_accession = _msa(send(orm(mrn="MRN-B", name="Berger^Anna", born="19700101", placer="EHR-B")))[2]
    assert _msa(send(orm(mrn="MRN-A", name="Adams^Carl", born="19600505", placer="EHR-A", control_id="M2",
                            visit="V-A")))[0] == "AA"
    with app.app_context():
        order = db.session.scalar(select(ImagingOrder).where(ImagingOrder.accession_number == b_accession))
        order_id, version = order.id, order.version

    ack = send(orm("CA", control_id="C1", placer="", accession=b_accession, mrn="MRN-A", name="Adams^Carl",
                   born="19600505"))
    code, control_id, text = _msa(ack)
    assert (code, control_id) == ("AE", "C1"), str(ack)
    assert "patient demographics differ" in text and "MRN-A" in text
    with app.app_context():
        order = db.session.get(ImagingOrder, order_id)
        assert order.status == "ordered" and order.cancelled_date is None
        assert order.version == version + 1  # only the timeline entry
        event = db.session.scalars(select(OrderEvent).where(OrderEvent.order_id == order_id)
                                   .order_by(OrderEvent.id.desc())).first()
        assert (event.event_type, event.from_status, event.to_status) == ("hl7_refused", "ordered", "ordered")
        assert "MRN-A" in event.note and "not cancelled" in event.note and "EPIC" in event.actor_label
        assert verify_chain(db.session).ok
    auth.login("admin")
    page = client.get(f"/imaging/orders/{order_id}").get_data(as_text=True)
    assert "HL7 refused" in page and "HL7 cancel refused: patient mismatch" in page

    # The right MRN with another family name or birth date is refused too.
    for name, born in (("Smith^Anna", "19700101"), ("Berger^Anna", "19990101")):
        ack = send(orm("CA", control_id=f"C-{name}-{born}", placer="", accession=b_accession, mrn="mrn-b",
                       name=name, born=born))
        assert _msa(ack)[0] == "AE", str(ack)
    # The order's own patient, the MRN in another case and the name without its accents: cancelled.
    ack = send(orm("CA", control_id="C9", placer="", accession=b_accession, mrn="mrn-b", name="BERGER^Anna",
                   born="19700101"))
    assert _msa(ack)[:2] == ("AA", "C9")
    with app.app_context():
        assert db.session.get(ImagingOrder, order_id).status == "cancelled"


def test_a_new_order_on_a_known_mrn_with_other_demographics_places_nothing(app, make_user, make_patient, send):
    """Defect 2: PID-3 is Müller's MRN with Smith^John, born 1999, male. Before: placed on Müller."""
    make_user("doctor", username="drhouse")
    muller = make_patient(mrn="MRN-MUL", first_name="Anna", last_name="Müller", sex="female",
                          date_of_birth=date(1970, 3, 4))
    for control_id, name, born in (("N1", "Smith^John", "19990101"), ("N2", "Smith^John", "19700304"),
                                   ("N3", "Müller^Anna", "19990101")):
        ack = send(orm(control_id=control_id, mrn="MRN-MUL", name=name, born=born, placer=f"EHR-{control_id}"))
        code, _, text = _msa(ack)
        assert code == "AE" and "patient demographics differ" in text, str(ack)
    assert _count(app, ImagingOrder) == 0
    with app.app_context():
        patient = db.session.get(Patient, muller.id)
        assert (patient.last_name, patient.first_name, str(patient.date_of_birth)) == ("Müller", "Anna", "1970-03-04")
    # Without the umlaut and in capitals, in the MRN's other case: the same patient, placed.
    ack = send(orm(control_id="N4", mrn="mrn-mul", name="MULLER^Anna", born="19700304", placer="EHR-N4"))
    assert _msa(ack)[0] == "AA", str(ack)
    with app.app_context():
        order = db.session.scalars(select(ImagingOrder)).one()
        assert order.patient_id == muller.id
        assert db.session.scalar(select(func.count()).select_from(Patient)) == 1


def test_the_assigning_authority_is_kept_and_must_agree(app, make_user, send):
    """Defect 2, second half: PID-3.4 is kept (the way out sends it back: tests/hl7/test_outbox.py)."""
    make_user("doctor", username="drhouse")
    assert _msa(send(orm(mrn="EHR900")))[0] == "AA"
    with app.app_context():
        assert db.session.scalar(select(Patient.mrn_issuer).where(Patient.mrn == "EHR900")) == "GENERAL"
    other = orm(mrn="EHR900", placer="EHR-2", control_id="M2").replace("EHR900^^^GENERAL^MR", "EHR900^^^ELSEWHERE^MR")
    ack = send(other)
    assert _msa(ack)[0] == "AE" and "assigning authority ELSEWHERE" in _msa(ack)[2]
    assert _count(app, ImagingOrder) == 1


def test_mrns_differing_only_in_case_are_one_patient(app, make_user, send, client):
    """Defect 8: CASEmrn1 and casemrn1 registered as two patients."""
    make_user("doctor", username="drhouse")
    assert _msa(send(orm(mrn="CASEmrn1", placer="EHR-1")))[0] == "AA"
    assert _msa(send(orm(mrn="casemrn1", placer="EHR-2", control_id="M2")))[0] == "AA"
    assert _count(app, Patient) == 1
    admin = make_user("admin")
    token = client.post("/api/v1/auth/token", json={"username": admin.username, "password": "password-123"})
    answer = client.post("/api/v1/patients", json={"mrn": "CASEMRN1", "first_name": "Linh", "last_name": "Nguyen",
                                                   "date_of_birth": "1981-04-12", "sex": "female"},
                         headers={"Authorization": f"Bearer {token.json['access_token']}"})
    assert answer.status_code == 409, answer.get_data(as_text=True)
    assert _count(app, Patient) == 1


def _client_send(port: int, text: str, encoding: str) -> hl7.Message:
    with MLLPClient("127.0.0.1", port, encoding=encoding) as client:
        answer = client.send_message(text)
    return hl7.parse(answer.decode(encoding).strip("\x0b\x1c\r"))


@pytest.mark.parametrize(("charset", "encoding"), [("8859/1", "latin-1"), ("UNICODE UTF-8", "utf-8"), ("", "utf-8")])
def test_msh_18_is_honoured(app, make_user, listener, charset, encoding):
    """Defect 6: MSH-18 8859/1 was ignored, so Müller was stored as M\\ufffdller."""
    make_user("doctor", username="drhouse")
    ack = _client_send(listener, orm(mrn="LAT1", name="Müller^Zoë", charset=charset), encoding)
    assert _msa(ack)[0] == "AA", str(ack)
    with app.app_context():
        patient = db.session.scalar(select(Patient).where(Patient.mrn == "LAT1"))
        assert (patient.last_name, patient.first_name) == ("Müller", "Zoë")


@pytest.mark.parametrize(("charset", "encoding", "says"), [
    ("UNICODE UTF-16", "utf-8", "not read here"),  # table 0211, but not a set we read
    ("LATIN1", "latin-1", "not read here"),  # not a table 0211 value
    ("ASCII", "latin-1", "not ASCII"),  # says ASCII, sends a byte above 127
    ("UNICODE UTF-8", "latin-1", "not UNICODE UTF-8"),  # says UTF-8, sends Latin-1
])
def test_a_character_set_we_cannot_read_is_refused(app, make_user, listener, charset, encoding, says):
    make_user("doctor", username="drhouse")
    ack = _client_send(listener, orm(mrn="LAT2", name="Müller^Zoë", charset=charset), encoding)
    assert _msa(ack)[0] == "AR" and says in _msa(ack)[2], str(ack)
    assert _msa(ack)[1] == "MSG1"
    assert _count(app, Patient) == 0 and _count(app, ImagingOrder) == 0


def test_ascii_as_declared_is_read(app, make_user, listener):
    make_user("doctor", username="drhouse")
    assert _msa(_client_send(listener, orm(mrn="ASC1", name="Muller^Zoe", charset="ASCII"), "ascii"))[0] == "AA"
    assert _count(app, Patient) == 1
