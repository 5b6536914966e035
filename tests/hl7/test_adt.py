"""ADT in on the HL7 listener (issue 21, defect 7 for hospitals), sent by python-hl7's MLLP client.

HL7 v2.5.1 chapter 3: A01 admit, A04 register, A08 update patient information, A40 merge patient
(MRG-1 the prior patient identifier list); PV1-7 attending and PV1-8 referring doctor (XCN). The
identity rule and what each event does: webapp/hl7/adt.py and docs/interfaces.md#adt.
"""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest
from sqlalchemy import func, select

from tests.hl7.test_inbound import _msa, orm
from webapp.audit.chain import verify_chain
from webapp.extensions import db
from webapp.imaging.models import ImagingOrder, OrderEvent
from webapp.patients.models import Patient
from webapp.visits.models import Visit


@pytest.fixture
def app_config():
    return {}


def adt(event: str, *, mrn: str = "ADT100", name: str = "Nguyen^Linh", born: str = "19810412", sex: str = "F",
        control_id: str = "A1", visit: str = "", attending: str = "", issuer: str = "GENERAL", prior: str = "") -> str:
    structure = {"A01": "ADT_A01", "A04": "ADT_A01", "A08": "ADT_A01", "A40": "ADT_A39"}[event]
    lines = [
        f"MSH|^~\\&|EPIC|GENERAL|IMAGINGORDERS|RADIOLOGY|20260301101500||ADT^{event}^{structure}|{control_id}|P|2.5.1",
        f"EVN|{event}|20260301101500",
        f"PID|1||{mrn}^^^{issuer}^MR||{name}||{born}|{sex}",
    ]
    if prior:
        lines.append(f"MRG|{prior}^^^GENERAL^MR")
    lines.append(f"PV1|1|O|||||{attending}||||||||||||{visit}")
    return "\r".join(lines)


def _patient(app, mrn: str) -> Patient | None:
    with app.app_context():
        patient = db.session.scalar(select(Patient).where(Patient.mrn == mrn))
        if patient is not None:
            db.session.expunge(patient)
        return patient


def test_a04_registers_a_patient_stored_nfc(app, send):
    nfd = unicodedata.normalize("NFD", "Ångström-Ñúñez^Zoë")
    ack = send(adt("A04", name=nfd, born="19900202"))
    assert _msa(ack) == ("AA", "A1", "ADT100"), str(ack)
    patient = _patient(app, "ADT100")
    assert (patient.last_name, patient.first_name) == ("Ångström-Ñúñez", "Zoë")
    assert unicodedata.is_normalized("NFC", patient.last_name)
    assert (patient.date_of_birth, patient.sex, patient.mrn_issuer) == (date(1990, 2, 2), "female", "GENERAL")


def test_a01_on_a_known_mrn_with_other_demographics_is_refused(app, send, make_user):
    """An admission never renames a patient in passing: only A08 does (docs/interfaces.md#adt)."""
    doctor = make_user("doctor", username="dr-npi", provider_id="1234567893")
    assert _msa(send(adt("A04")))[0] == "AA"
    refused = send(adt("A01", name="Smith^John", control_id="A2", visit="V-ADT-1"))
    assert _msa(refused)[0] == "AE" and "patient demographics differ" in _msa(refused)[2]
    assert _patient(app, "ADT100").last_name == "Nguyen"
    # The same patient (another case, no accents): admitted; PV1-7 names the attending doctor by NPI.
    ack = send(adt("A01", mrn="adt100", name="NGUYEN^Linh", control_id="A3", visit="V-ADT-1",
                   attending="1234567893^Carter^John"))
    assert _msa(ack)[0] == "AA", str(ack)
    with app.app_context():
        visit = db.session.scalars(select(Visit)).one()
        assert visit.attending_doctor_id == doctor.id
        assert visit.patient.mrn == "ADT100"
        assert db.session.scalar(select(func.count()).select_from(Visit)) == 1


def test_a08_updates_demographics_and_later_answers_show_them(app, send, auth, client):
    assert _msa(send(adt("A04")))[0] == "AA"
    ack = send(adt("A08", name="Tran^Linh Mai", born="19810413", control_id="A2"))
    assert _msa(ack)[0] == "AA", str(ack)
    patient = _patient(app, "ADT100")
    assert (patient.last_name, patient.first_name, patient.date_of_birth) == ("Tran", "Linh Mai", date(1981, 4, 13))
    assert "tran" in patient.search_key
    auth.login("doctor")
    assert "Tran" in client.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert _msa(send(adt("A08", mrn="NOBODY", control_id="A3")))[0] == "AE"


def test_a40_moves_visits_and_orders_to_the_survivor(app, send, make_user, auth, client):
    make_user("doctor", username="drhouse")
    assert _msa(send(adt("A04", mrn="SURV1", name="Nguyen^Linh")))[0] == "AA"
    placed = send(orm(mrn="PRIOR1", name="Nguyen^Lin", visit="V-PRIOR", placer="EHR-P1"))
    assert _msa(placed)[0] == "AA"
    accession = _msa(placed)[2]

    # A merge whose PID does not name the survivor, and one whose prior is unknown: refused.
    assert _msa(send(adt("A40", mrn="SURV1", name="Smith^John", prior="PRIOR1", control_id="M0")))[0] == "AE"
    assert _msa(send(adt("A40", mrn="SURV1", prior="NOPE", control_id="M1")))[0] == "AE"
    ack = send(adt("A40", mrn="SURV1", prior="prior1", control_id="M2"))
    assert _msa(ack) == ("AA", "M2", "SURV1"), str(ack)
    survivor, prior = _patient(app, "SURV1"), _patient(app, "PRIOR1")
    assert prior.merged_into_id == survivor.id
    with app.app_context():
        order = db.session.scalar(select(ImagingOrder).where(ImagingOrder.accession_number == accession))
        assert order.patient_id == survivor.id and order.visit.patient_id == survivor.id
        event = db.session.scalars(select(OrderEvent).where(OrderEvent.order_id == order.id)
                                   .order_by(OrderEvent.id.desc())).first()
        assert event.event_type == "patient_merged" and "PRIOR1" in event.note and "SURV1" in event.note
        assert event.changes["patient_id"] == {"from": str(prior.id), "to": str(survivor.id)}
        assert verify_chain(db.session).ok
        order_id = order.id
    auth.login("doctor")
    assert "Moved to the surviving patient" in client.get(f"/imaging/orders/{order_id}").get_data(as_text=True)

    # The same merge again is answered AA and changes nothing; the prior MRN now names the survivor.
    assert _msa(send(adt("A40", mrn="SURV1", prior="PRIOR1", control_id="M3")))[0] == "AA"
    again = send(orm(mrn="PRIOR1", name="Nguyen^Linh", visit="V-PRIOR", placer="EHR-P2", control_id="N2"))
    assert _msa(again)[0] == "AA", str(again)
    with app.app_context():
        second = db.session.scalar(select(ImagingOrder).where(ImagingOrder.accession_number == _msa(again)[2]))
        assert second.patient_id == survivor.id
        assert db.session.scalar(select(func.count()).select_from(Patient)) == 2


def test_an_ordering_provider_is_found_by_provider_id_then_user_name(app, send, make_user):
    npi_doctor = make_user("doctor", username="gregory", provider_id="1497758544")
    ack = send(orm(provider="1497758544^House^Gregory", placer="EHR-NPI"))
    assert _msa(ack)[0] == "AA", str(ack)
    by_name = send(orm(provider="GREGORY^House^Gregory", placer="EHR-NAME", control_id="M2"))
    assert _msa(by_name)[0] == "AA", str(by_name)
    with app.app_context():
        assert {o.ordered_by for o in db.session.scalars(select(ImagingOrder))} == {npi_doctor.id}
    assert _msa(send(orm(provider="999^No^One", placer="EHR-X", control_id="M3")))[0] == "AR"
