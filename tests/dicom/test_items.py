"""What a worklist item holds (PS3.4 K.6), in the clinic's time zone, and how names and IDs match."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydicom.dataset import Dataset

from tests.dicom.conftest import c_find

pytestmark = pytest.mark.sqlite_only

# 14:30 UTC on 11 March 2030 is 10:30 in New York (EDT).
START = datetime(2030, 3, 11, 14, 30, tzinfo=UTC)


@pytest.fixture
def app_config():
    return {"APP_TIMEZONE": "America/New_York", "DICOM_OFFER_ORDERED": True}


def full_query(**top) -> Dataset:
    query = Dataset()
    for keyword in (
        "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber", "ReferringPhysicianName",
        "StudyInstanceUID", "RequestedProcedureID", "RequestedProcedureDescription", "RequestedProcedurePriority",
        "ReasonForTheRequestedProcedure", "IssuerOfPatientID",
    ):
        setattr(query, keyword, "")
    query.RequestedProcedureCodeSequence = []
    query.ScheduledProcedureStepSequence = []
    for keyword, value in top.items():
        setattr(query, keyword, value)
    return query


def test_item_carries_what_a_modality_needs(app, dicom_server, make_station, make_patient, make_visit,
                                            make_order, booked_order, make_user):
    make_station("DX1", "XRAY", "Radiography room 1 at the far end of the east wing")
    patient = make_patient(first_name="Kwame", last_name="Mensah", sex="male", date_of_birth=date(1961, 2, 3),
                           mrn="MRN777001")
    doctor = make_user("doctor", full_name="Dr. Amara Okafor")
    order = booked_order(START, "DX1", visit=make_visit(patient=patient), doctor=doctor, laterality="right",
                         body_part="EXTREMITY", procedure_code="73130", priority="stat",
                         clinical_indication="Fall on outstretched hand; " + "swelling and tenderness " * 20)
    statuses, items = c_find(dicom_server, full_query(PatientID="MRN777001"))
    assert statuses[-1] == 0x0000 and len(items) == 1
    item = items[0]
    assert item.SpecificCharacterSet == "ISO_IR 192"
    assert (str(item.PatientName), item.PatientID, item.PatientBirthDate, item.PatientSex) == (
        "Mensah^Kwame", "MRN777001", "19610203", "M")
    assert item.AccessionNumber == item.RequestedProcedureID == order.accession_number
    assert item.StudyInstanceUID == order.study_instance_uid
    assert str(item.ReferringPhysicianName) == "Okafor^Amara^^Dr."
    assert item.RequestedProcedureDescription == "X-Ray Hand, 3 views (right)"
    assert item.RequestedProcedurePriority == "STAT"
    assert item.ReasonForTheRequestedProcedure.startswith("Fall on outstretched hand; swelling")
    assert 50 <= len(item.ReasonForTheRequestedProcedure) <= 64 and item.ReasonForTheRequestedProcedure.endswith("...")  # LO
    assert item.IssuerOfPatientID == ""  # asked for, not kept: returned empty
    code = item.RequestedProcedureCodeSequence[0]
    assert (code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning) == ("73130", "C4", "X-Ray Hand, 3 views")
    step = item.ScheduledProcedureStepSequence[0]
    assert (step.ScheduledProcedureStepStartDate, step.ScheduledProcedureStepStartTime) == ("20300311", "103000")
    assert (step.Modality, step.ScheduledStationAETitle, step.ScheduledProcedureStepID) == (
        "DX", "DX1", order.accession_number)
    assert step.ScheduledProcedureStepDescription == "X-Ray Hand, 3 views (right)"
    assert step.ScheduledProcedureStepLocation == "Radiography..."  # SH: 16 characters, cut on a word
    assert step.ScheduledProcedureStepStatus == "SCHEDULED"

    # DICOM_OFFER_ORDERED: orders not yet scheduled are offered too, at the time they were placed.
    waiting = make_order("ordered", visit=make_visit(patient=patient))
    _, items = c_find(dicom_server, full_query(PatientID="MRN777001"))
    # Earliest first: the waiting order's time is when it was placed (now), before the 2030 booking.
    assert [i.AccessionNumber for i in items] == [waiting.accession_number, order.accession_number]
    assert {i.ScheduledProcedureStepSequence[0].ScheduledStationAETitle for i in items} == {"DX1", ""}


@pytest.mark.parametrize("name, found", [
    ("Mensah^Kwame", True), ("MENSAH^KWAME", True), ("mens*", True), ("Mensah", True), ("*^Kwame", True),
    ("M?nsah^*", True), ("*wam*", True), ("Mensa", False), ("Garcia^*", False), ("Mensah^Ama", False),
    ("100%", False), ("Mens_h", False),
])
def test_patient_name_matching(app, dicom_server, make_patient, make_visit, booked_order, name, found):
    patient = make_patient(first_name="Kwame", last_name="Mensah")
    order = booked_order(START, visit=make_visit(patient=patient))
    query = Dataset()
    query.PatientName = name
    query.AccessionNumber = ""
    statuses, items = c_find(dicom_server, query)
    assert statuses[-1] == 0x0000
    assert [i.AccessionNumber for i in items] == ([order.accession_number] if found else [])
    if found:
        assert str(items[0].PatientName) == "Mensah^Kwame"


def test_other_keys_are_matched_on_the_item(app, dicom_server, make_patient, make_visit, booked_order):
    woman = make_patient(first_name="Olga", last_name="Petrova", sex="female", date_of_birth=date(1950, 6, 1))
    man = make_patient(first_name="Ravi", last_name="Patel", sex="male", date_of_birth=date(1990, 1, 1))
    her_order = booked_order(START, visit=make_visit(patient=woman))
    booked_order(START, visit=make_visit(patient=man))
    for key, value in [("PatientSex", "F"), ("PatientBirthDate", "19400101-19600101"),
                       ("StudyInstanceUID", her_order.study_instance_uid)]:
        query = Dataset()
        query.AccessionNumber = ""
        setattr(query, key, value)
        assert [i.AccessionNumber for i in c_find(dicom_server, query)[1]] == [her_order.accession_number], key


@pytest.mark.parametrize("day, hours, found", [
    ("20300311", "1000-1100", True), ("20300311", "1031-", False), ("", "1030", True), ("", "-1029", False),
    ("20300310-20300311", "2300-1030", True), ("20300311", "", True), ("20300310", "", False),
])
def test_start_date_and_time_in_the_clinic_zone(app, dicom_server, booked_order, day, hours, found):
    order = booked_order(START)  # 10:30 in New York
    step = Dataset()
    step.ScheduledProcedureStepStartDate = day
    step.ScheduledProcedureStepStartTime = hours
    query = Dataset()
    query.AccessionNumber = ""
    query.ScheduledProcedureStepSequence = [step]
    _, items = c_find(dicom_server, query)
    assert [i.AccessionNumber for i in items] == ([order.accession_number] if found else [])
