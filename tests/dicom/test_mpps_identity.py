"""Issue 21 at the scanner: defect 5 (MPPS did not check the station) and defect 8 / 6 (the
worklist's own cut name and Ł/ł were refused back). pynetdicom plays the modality.

DICOM PS3.4 F.7.2.1 (N-CREATE): 0110 "processing failure". PatientName is PN, 64 characters per
component group (PS3.5 6.2): the worklist cuts a longer name and marks the cut with "...".
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from tests.dicom.conftest import c_find
from tests.dicom.test_mpps import in_progress, n_create, state
from webapp.audit.chain import verify_chain
from webapp.dicom.models import PerformedProcedureStep
from webapp.extensions import db
from webapp.imaging.queries import get_order, order_events

pytestmark = pytest.mark.sqlite_only

START = datetime(2030, 3, 11, 9, 0, tzinfo=UTC)


@pytest.fixture
def ct_order(make_station, make_patient, make_visit, booked_order):
    make_station("CT1", "CT", "CT suite")
    make_station("DX1", "XRAY", "X-ray room 1")
    patient = make_patient(first_name="Jan", last_name="Łukasiewicz", mrn="MRN880001", date_of_birth=date(1955, 6, 7))
    return booked_order(START, "CT1", visit=make_visit(patient=patient), modality="CT", body_part="HEAD",
                        procedure_code="70450")


def step(order, station_ae: str = "CT1") -> Dataset:
    """The scanner's N-CREATE, in UTF-8 (ISO_IR 192) as a scanner holding non-ASCII names sends it."""
    ds = in_progress(order, station_ae=station_ae)
    ds.SpecificCharacterSet = "ISO_IR 192"
    return ds


def _steps(app) -> int:
    with app.app_context():
        return db.session.query(PerformedProcedureStep).count()


def test_a_station_of_another_modality_cannot_start_the_order(app, dicom_server, ct_order, auth, client):
    """Defect 5: a registered X-ray station started a CT order booked on another scanner."""
    before = state(app, ct_order.id)[0]
    status = n_create(dicom_server, step(ct_order, station_ae="DX1"), generate_uid(), calling_ae="DX1")
    assert status.Status == 0x0110
    assert "XRAY" in status.ErrorComment and "CT" in status.ErrorComment
    after, events = state(app, ct_order.id)
    assert (after.status, after.performed_date, after.version) == ("scheduled", None, before.version + 1)
    assert events[-1][:4] == ("mpps_refused", "scheduled", "scheduled", "Modality DX1")
    assert _steps(app) == 0
    with app.app_context():
        note = order_events(get_order(ct_order.id))[-1].note
        assert "DX1" in note and "XRAY station" in note and "not started" in note
        assert verify_chain(db.session).ok
    auth.login("technician")
    page = client.get(f"/imaging/orders/{ct_order.id}").get_data(as_text=True)
    assert "MPPS refused" in page and "XRAY station" in page


def test_an_unregistered_calling_ae_keeps_todays_behaviour(app, dicom_server, ct_order):
    status = n_create(dicom_server, step(ct_order, station_ae="SOMECT"), generate_uid(), calling_ae="SOMECT")
    assert status.Status == 0x0000
    assert state(app, ct_order.id)[0].status == "in_progress"


@pytest.mark.parametrize("name", ["LUKASIEWICZ^JAN", "lukasiewicz^jan", "Łukasiewicz^Jan", "ŁUKASIEWICZ"])
def test_l_with_stroke_folds(app, dicom_server, ct_order, name):
    """Defect 6: the accent-optional match failed for Ł/ł (NFKD does not decompose it)."""
    ds = step(ct_order)
    ds.PatientName = name
    assert n_create(dicom_server, ds, generate_uid()).Status == 0x0000


def test_another_birth_date_is_refused(app, dicom_server, ct_order):
    ds = step(ct_order)
    ds.PatientBirthDate = "19550608"
    status = n_create(dicom_server, ds, generate_uid())
    assert status.Status == 0x0110 and "Birth Date" in status.ErrorComment
    assert state(app, ct_order.id)[0].status == "scheduled"


def test_the_worklists_cut_name_comes_back_and_is_accepted(app, dicom_server, make_station, make_patient, make_visit,
                                                           booked_order):
    """Defect 8: a family name the worklist cut to fit 64 characters was refused back as a mismatch."""
    make_station("CT1", "CT", "CT suite")
    family = "Wolfeschlegelsteinhausenbergerdorff-Ångström de la Vega y Montoya"
    patient = make_patient(first_name="Hubert", last_name=family[:64], mrn="MRN880002")
    order = booked_order(START, "CT1", visit=make_visit(patient=patient), modality="CT", body_part="HEAD",
                         procedure_code="70450")
    query = Dataset()
    query.PatientID, query.PatientName, query.AccessionNumber = "MRN880002", "", ""
    query.ScheduledProcedureStepSequence = []
    _, items = c_find(dicom_server, query)
    sent_name = str(items[0].PatientName)
    assert len(sent_name) <= 64 and sent_name.split("^")[0].endswith("...")
    ds = step(order)
    ds.PatientName = sent_name  # what the scanner took from the worklist
    assert n_create(dicom_server, ds, generate_uid()).Status == 0x0000
    assert state(app, order.id)[0].status == "in_progress"
    # A different name cut the same way is still refused.
    other = booked_order(START.replace(hour=11), "CT1", visit=make_visit(patient=patient), modality="CT",
                         body_part="HEAD", procedure_code="70450")
    ds = step(other)
    ds.PatientName = "Wolfeschlegelsteinhausenbergerdorff-Ostrom...^Hubert"
    assert n_create(dicom_server, ds, generate_uid()).Status == 0x0110


def test_an_adt_a08_update_shows_in_the_next_worklist_answer(app, dicom_server, ct_order):
    """ADT^A08 (HL7 v2.5.1 3.3.8) corrects the name: the scanner's next C-FIND gets the new one."""
    from tests.hl7.test_adt import adt
    from webapp.hl7.listener import handle_message

    query = Dataset()
    query.PatientID, query.PatientName, query.PatientBirthDate = "MRN880001", "", ""
    query.ScheduledProcedureStepSequence = []
    _, items = c_find(dicom_server, query)
    assert str(items[0].PatientName) == "Łukasiewicz^Jan"
    ack = handle_message(app, adt("A08", mrn="MRN880001", name="Łukasiewicz-Nowak^Jan Paweł", born="19550607",
                                  sex="M"))
    assert "|AA|" in ack, ack
    _, items = c_find(dicom_server, query)
    assert (str(items[0].PatientName), items[0].PatientBirthDate) == ("Łukasiewicz-Nowak^Jan Paweł", "19550607")
