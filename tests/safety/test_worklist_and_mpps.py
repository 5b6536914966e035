"""The safety screening at the scanner: the worklist items carry it (dcmtk's findscu -W, a real
peer), MPPS may not start an unprotocoled order (refused, on the timeline), and
DICOM_REQUIRE_ARRIVAL offers only arrived patients.

Attributes: PS3.3 C.2.4 Patient Medical Module, Medical Alerts (0010,2000), Contrast Allergies
(0010,2110), Pregnancy Status (0010,21C0; Enumerated Values 0001 not pregnant, 0002 possibly
pregnant, 0003 definitely pregnant, 0004 unknown), Patient's Weight (0010,1030); PS3.4 Table K.6-1,
Requested Contrast Agent (0032,1070) in the Scheduled Procedure Step item.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from pydicom.uid import generate_uid

from tests.dicom.conftest import booked_order, dicom_server, findscu  # noqa: F401
from tests.dicom.test_mpps import in_progress, n_create, state
from webapp.auth.models import User
from webapp.extensions import db, writing
from webapp.imaging import services
from webapp.imaging.queries import get_order
from webapp.patients.models import Patient
from webapp.safety import record

pytestmark = pytest.mark.sqlite_only
START = datetime(2030, 3, 11, 9, 0, tzinfo=UTC)
CT_ABDOMEN_CONTRAST = {"modality": "CT", "body_part": "ABDOMEN", "procedure_code": "74177"}
# By tag: Medical Alerts, Contrast Allergies, Pregnancy Status, Patient's Weight; Requested Contrast Agent
# in the Scheduled Procedure Step Sequence (0040,0100).
KEYS = ["AccessionNumber", "PatientName", "0010,2000", "0010,2110", "0010,21C0", "0010,1030",
        "0040,0100[0].0008,0060=CT", "0040,0100[0].0032,1070"]


def save_record(app, make_user, patient_id, **values):
    nurse = make_user("technician")
    with app.app_context(), writing():
        record.save(db.session.get(User, nurse.id), db.session.get(Patient, patient_id), values)
        db.session.commit()


def test_findscu_receives_the_safety_attributes(app, dicom_server, make_station, booked_order, make_user,  # noqa: F811
                                                tmp_path):
    make_station("CT1", "CT", "CT suite")
    order = booked_order(START, "CT1", **CT_ABDOMEN_CONTRAST)
    save_record(app, make_user, order.patient_id, weight_kg=72.5, pregnancy="possible", egfr={
        "value": 38, "measured_on": (date.today() - timedelta(days=3)).isoformat()},
        allergies=[{"substance": "iodinated_contrast", "reaction": "hives", "severity": "mild"},
                   {"substance": "latex", "reaction": "rash"}])
    plain = booked_order(START + timedelta(hours=1), "CT1", modality="CT", body_part="HEAD", procedure_code="70450")

    items = {str(i.AccessionNumber): i for i in findscu(dicom_server, KEYS, tmp_path / "rsp")}
    item = items[order.accession_number]
    assert list(item.MedicalAlerts) == ["WARN IODINATED_EGFR_30_44", "STOP PRIOR_CONTRAST_REACTION",
                                        "STOP PREGNANCY_IONISING_TRUNK"]
    assert str(item[0x00102110].value) == "Iodinated contrast (mild, hives)"  # latex is no contrast allergy
    assert item.PregnancyStatus == 2  # 0002 possibly pregnant
    assert float(item.PatientWeight) == 72.5
    assert item.ScheduledProcedureStepSequence[0].RequestedContrastAgent == "Iodinated contrast"
    other = items[plain.accession_number]
    assert other.MedicalAlerts in ("", None, [])
    assert other.ScheduledProcedureStepSequence[0].RequestedContrastAgent in ("", None)
    assert other.PregnancyStatus in ("", None)


def test_mpps_may_not_start_an_order_before_its_protocol(app, dicom_server, make_station, booked_order, make_user):  # noqa: F811
    make_station("CT1", "CT", "CT suite")
    order = booked_order(START, "CT1", **CT_ABDOMEN_CONTRAST)
    with app.app_context():
        patient_order = get_order(order.id)
        assert patient_order.protocol_required and patient_order.protocol is None
    status = n_create(dicom_server, in_progress(patient_order), generate_uid())
    assert status.Status == 0x0110
    current, events = state(app, order.id)
    assert current.status == "scheduled"
    assert events[-1][0] == "mpps_refused"
    with app.app_context():
        note = get_order(order.id).events[-1].note
    assert "protocol" in note and "CT1" in note

    radiologist = make_user("radiologist")
    with app.app_context(), writing():
        services.apply_action(db.session.get(User, radiologist.id), get_order(order.id), "protocol",
                              protocol="Portal venous phase", protocol_notes=None)
        db.session.commit()
    assert n_create(dicom_server, in_progress(patient_order), generate_uid()).Status == 0x0000
    assert state(app, order.id)[0].status == "in_progress"


def test_require_arrival_offers_only_arrived_patients(app, dicom_server, make_station, booked_order, make_user,  # noqa: F811
                                                      tmp_path):
    make_station("CT1", "CT", "CT suite")
    here = booked_order(START, "CT1", modality="CT", body_part="HEAD", procedure_code="70450")
    away = booked_order(START, "CT1", modality="CT", body_part="HEAD", procedure_code="70450")
    front_desk = make_user("scheduler")
    with app.app_context(), writing():
        services.apply_action(db.session.get(User, front_desk.id), get_order(here.id), "arrive")
        db.session.commit()
    keys = ["AccessionNumber", "ScheduledProcedureStepSequence[0].Modality=CT"]
    everyone = {str(i.AccessionNumber) for i in findscu(dicom_server, keys, tmp_path / "a")}
    assert {here.accession_number, away.accession_number} <= everyone
    app.config["DICOM_REQUIRE_ARRIVAL"] = True
    arrived = {str(i.AccessionNumber) for i in findscu(dicom_server, keys, tmp_path / "b")}
    assert here.accession_number in arrived and away.accession_number not in arrived
