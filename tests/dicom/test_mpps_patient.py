"""MPPS N-CREATE checks the patient against the order, and records the operator as performing technician."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydicom.uid import generate_uid

from tests.dicom.conftest import echo_ok
from tests.dicom.test_mpps import in_progress, n_create, state
from webapp.audit.chain import verify_chain
from webapp.dicom.models import PerformedProcedureStep
from webapp.extensions import db
from webapp.imaging.queries import get_order, order_events

pytestmark = pytest.mark.sqlite_only

START = datetime(2030, 3, 11, 9, 0, tzinfo=UTC)


@pytest.fixture
def kwame_order(make_station, make_patient, make_visit, booked_order):
    make_station("CT1", "CT", "CT suite")
    patient = make_patient(first_name="Kwame", last_name="Mensah", mrn="MRN777001")
    return booked_order(START, "CT1", visit=make_visit(patient=patient), modality="CT", body_part="HEAD",
                        procedure_code="70450")


def _last_event(app, order_id):
    with app.app_context():
        return order_events(get_order(order_id))[-1]


@pytest.mark.parametrize("patient_id, name", [
    ("MRN999048", "Other^Person"),  # the issue: another patient's ID and name
    ("MRN999048", "Mensah^Kwame"),  # the right name is not enough
    ("MRN777001", "Okafor^Amara"),  # the right ID with another family name
    ("", "Mensah^Kwame"),  # no patient ID: nothing to check the order against
])
def test_n_create_for_another_patient_is_refused_and_shown_on_the_order(
    app, dicom_server, kwame_order, auth, client, patient_id, name
):
    ds = in_progress(kwame_order)
    ds.PatientID, ds.PatientName = patient_id, name
    before = state(app, kwame_order.id)[0]
    status = n_create(dicom_server, ds, generate_uid())
    assert status.Status in (0x0110, 0x0121)
    assert "patient" in status.ErrorComment.lower()
    after, events = state(app, kwame_order.id)
    # Still scheduled and not started; its timeline gained an entry, so its version did too.
    assert (after.status, after.version, after.performed_date) == ("scheduled", before.version + 1, None)
    with app.app_context():
        assert db.session.query(PerformedProcedureStep).count() == 0
        assert verify_chain(db.session).ok, verify_chain(db.session).problem
    assert events[-1] == ("mpps_refused", "scheduled", "scheduled", "Modality CT1", "technician")
    note = _last_event(app, kwame_order.id).note
    assert "patient mismatch" in note.lower() and "CT1" in note
    assert (patient_id or "no Patient ID") in note
    # The department sees it on the order page.
    auth.login("technician")
    page = client.get(f"/imaging/orders/{kwame_order.id}").get_data(as_text=True)
    assert "MPPS refused" in page and "patient mismatch" in page.lower()
    assert echo_ok(dicom_server)


@pytest.mark.parametrize("name", ["MENSAH^KWAME", "mensah^Kwame^^", "Mensah", "Mensah^K", ""])
def test_the_same_patient_in_another_spelling_is_accepted(app, dicom_server, kwame_order, name):
    ds = in_progress(kwame_order)
    ds.PatientName = name
    assert n_create(dicom_server, ds, generate_uid()).Status == 0x0000
    assert state(app, kwame_order.id)[0].status == "in_progress"


def test_operators_name_is_the_performing_technician(app, dicom_server, kwame_order, make_user):
    jane = make_user("technician", username="jdoe", full_name="Jane Doe")
    make_user("doctor", username="jane-doctor", full_name="Jane Smith")
    assert n_create(dicom_server, in_progress(kwame_order, operator="DOE^JANE"), generate_uid()).Status == 0x0000
    order, events = state(app, kwame_order.id)
    assert order.performing_technician == jane.id
    assert events[-1] == ("start", "scheduled", "in_progress", "Modality CT1", "technician")
    assert "Jane Doe" in _last_event(app, kwame_order.id).note


@pytest.mark.parametrize("operator", ["jdoe", "Doe^Jane"])
def test_operator_matched_by_username_or_name(app, dicom_server, kwame_order, make_user, operator):
    jane = make_user("technician", username="jdoe", full_name="Jane Doe")
    assert n_create(dicom_server, in_progress(kwame_order, operator=operator), generate_uid()).Status == 0x0000
    assert state(app, kwame_order.id)[0].performing_technician == jane.id


@pytest.mark.parametrize("operator, who", [
    ("Nobody^Known", None),  # no such user: kept as text, no user invented
    ("Smith^Jane", "doctor"),  # not a technician
    ("Lee^Sam", "two"),  # two technicians of that name: not guessed
])
def test_unknown_operator_is_kept_as_text(app, dicom_server, kwame_order, make_user, operator, who):
    if who == "doctor":
        make_user("doctor", username="jsmith", full_name="Jane Smith")
    if who == "two":
        make_user("technician", username="slee1", full_name="Sam Lee")
        make_user("technician", username="slee2", full_name="Sam Lee")
    assert n_create(dicom_server, in_progress(kwame_order, operator=operator), generate_uid()).Status == 0x0000
    order, _ = state(app, kwame_order.id)
    assert order.status == "in_progress" and order.performing_technician is None
    assert operator in _last_event(app, kwame_order.id).note
