"""The worklist at scale: a scanner's own bookings (by station key, or by calling AE title with
DICOM_STATION_FROM_CALLING_AE=1), the cap with its final status, and items encoded straight to
bytes that read back the same in every transfer syntax (dcmtk's findscu and pynetdicom as the scanners).

The cap's status: PS3.4 Table K.4-1 (Modality Worklist C-FIND responses) lists A700 "Refused: Out
of Resources"; the first DICOM_WORKLIST_MAX_ITEMS items go out as pending responses before it
(docs/dicom.md#the-worklist-at-scale).
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.sop_class import ModalityWorklistInformationFind

from tests.dicom.conftest import SERVICE_AE, c_find, findscu
from tests.services import dcmtk_available, require
from webapp.dicom.items import as_dataset, item_values
from webapp.extensions import db
from webapp.imaging.queries import get_order

DAY = datetime(2030, 3, 11, 8, 0, tzinfo=UTC)
CT_HEAD = {"modality": "CT", "body_part": "HEAD", "procedure_code": "70450"}


@pytest.fixture
def app_config():
    return {"DICOM_STATION_FROM_CALLING_AE": True, "DICOM_WORKLIST_MAX_ITEMS": 3}


def day_query(station: str | None = None, charset: str | None = None) -> Dataset:
    query = Dataset()
    if charset:
        query.SpecificCharacterSet = charset
    query.PatientName = ""
    query.AccessionNumber = ""
    step = Dataset()
    step.Modality = "CT"
    step.ScheduledProcedureStepStartDate = DAY.strftime("%Y%m%d")
    step.ScheduledStationAETitle = station or ""
    query.ScheduledProcedureStepSequence = [step]
    return query


@pytest.fixture
def two_stations(make_station, booked_order):
    make_station("CT1", "CT", "CT suite")
    make_station("CT2", "CT", "Emergency CT")
    ct1 = [booked_order(DAY + timedelta(minutes=20 * n), "CT1", **CT_HEAD) for n in range(2)]
    ct2 = [booked_order(DAY + timedelta(minutes=20 * n + 5), "CT2", **CT_HEAD) for n in range(2)]
    return ct1, ct2


def accessions(items) -> set[str]:
    return {str(item.AccessionNumber) for item in items}


def test_the_calling_ae_of_a_station_gets_its_own_bookings(dicom_server, two_stations, tmp_path):
    ct1, ct2 = two_stations
    statuses, items = c_find(dicom_server, day_query(), calling_ae="CT1")
    assert accessions(items) == {o.accession_number for o in ct1} and statuses[-1] == 0x0000
    assert all(item.ScheduledProcedureStepSequence[0].ScheduledStationAETitle == "CT1" for item in items)
    # dcmtk's findscu calling as CT2, no station key: CT2's only.
    keys = ["AccessionNumber", "ScheduledProcedureStepSequence[0].Modality=CT",
            f"ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate={DAY:%Y%m%d}"]
    assert accessions(findscu(dicom_server, keys, tmp_path / "rsp", calling_ae="CT2")) == {
        o.accession_number for o in ct2}
    # An explicit station key still wins; a caller that is no station sees every booking (up to the cap).
    assert accessions(c_find(dicom_server, day_query("CT2"), calling_ae="CT1")[1]) == {o.accession_number for o in ct2}
    statuses, items = c_find(dicom_server, day_query(), calling_ae="PYSCU")
    assert len(items) == 3 and statuses[-1] == 0xA700


def test_the_calling_ae_is_no_station_unless_configured(app, dicom_server, two_stations):
    app.config["DICOM_STATION_FROM_CALLING_AE"] = False
    app.config["DICOM_WORKLIST_MAX_ITEMS"] = 10
    ct1, ct2 = two_stations
    statuses, items = c_find(dicom_server, day_query(), calling_ae="CT1")
    assert accessions(items) == {o.accession_number for o in ct1 + ct2} and statuses[-1] == 0x0000


def test_more_than_the_cap_sends_the_first_items_then_a700(dicom_server, two_stations, tmp_path):
    """4 bookings, cap 3: the 3 earliest as pending responses, then A700 with the reason; never a
    success that hides the fourth. dcmtk's findscu shows the status and its comment."""
    ct1, ct2 = two_stations
    earliest = sorted(ct1 + ct2, key=lambda o: o.scheduled_date)[:3]
    assoc_ae = AE(ae_title="PYSCU")
    assoc_ae.add_requested_context(ModalityWorklistInformationFind)
    assoc = assoc_ae.associate("127.0.0.1", dicom_server, ae_title=SERVICE_AE)
    responses = list(assoc.send_c_find(day_query(), ModalityWorklistInformationFind))
    assoc.release()
    statuses = [status.Status for status, _ in responses]
    assert statuses == [0xFF00, 0xFF00, 0xFF00, 0xA700]
    assert accessions(item for _, item in responses[:3]) == {o.accession_number for o in earliest}
    assert "More than 3 items match" in responses[-1][0].ErrorComment

    require(dcmtk_available(), "dcmtk (findscu)")
    command = ["findscu", "-W", "-v", "-aet", "PYSCU", "-aec", SERVICE_AE, "-k", "AccessionNumber",
               "-k", "ScheduledProcedureStepSequence[0].Modality=CT", "127.0.0.1", str(dicom_server)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert "Received Final Find Response (Refused: OutOfResources)" in output, output
    assert output.count("(Pending)") == 3, output


@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian])
def test_items_encoded_to_bytes_read_back_as_the_whole_item(app, dicom_server, make_station, booked_order, syntax):
    """Empty keys ask for everything (a sequence key with an empty item asks for whole items): what
    pynetdicom decodes equals the item built from the same table with pydicom, in every syntax."""
    make_station("CT1", "CT", "CT suite")
    order = booked_order(DAY, "CT1", special_instructions="Prior CT on CD", **CT_HEAD)
    query = Dataset()
    with app.app_context():
        expected = as_dataset(item_values(get_order(order.id)))
        db.session.rollback()
    for element in expected:
        if element.keyword == "SpecificCharacterSet":
            continue
        query.add_new(element.tag, element.VR, [] if element.VR == "SQ" else "")
    query.ScheduledProcedureStepSequence = [Dataset()]  # an empty item: whole step items

    ae = AE(ae_title="PYSCU")
    ae.add_requested_context(ModalityWorklistInformationFind, [syntax])
    assoc = ae.associate("127.0.0.1", dicom_server, ae_title=SERVICE_AE)
    assert assoc.is_established
    items = [item for status, item in assoc.send_c_find(query, ModalityWorklistInformationFind)
             if status.Status == 0xFF00]
    assoc.release()
    assert len(items) == 1
    got = items[0]
    for element in expected:
        if element.VR == "SQ":
            continue
        assert got[element.tag].value == element.value, element.keyword
    step, want = got.ScheduledProcedureStepSequence[0], expected.ScheduledProcedureStepSequence[0]
    assert [(e.keyword, e.value) for e in step if e.VR != "SQ"] == [(e.keyword, e.value) for e in want if e.VR != "SQ"]
    assert step.ScheduledProtocolCodeSequence[0].CodeValue == "70450"
    assert got.RequestedProcedureCodeSequence[0].CodingSchemeDesignator == "C4"
    assert step.CommentsOnTheScheduledProcedureStep == "Prior CT on CD"


def test_latin1_when_asked_and_everything_fits_else_utf8(dicom_server, make_station, booked_order, make_visit,
                                                         make_patient):
    make_station("CT1", "CT", "CT suite")
    french = make_visit(patient=make_patient(first_name="Zoé", last_name="Lefèvre"))
    vietnamese = make_visit(patient=make_patient(first_name="Thị", last_name="Nguyễn"))
    booked_order(DAY, "CT1", visit=french, **CT_HEAD)
    booked_order(DAY + timedelta(minutes=30), "CT1", visit=vietnamese, **CT_HEAD)
    _statuses, items = c_find(dicom_server, day_query("CT1", charset="ISO_IR 100"))
    by_name = {str(item.PatientName): item.SpecificCharacterSet for item in items}
    assert by_name == {"Lefèvre^Zoé": "ISO_IR 100", "Nguyễn^Thị": "ISO_IR 192"}


def test_an_accession_number_without_wildcards_matches_exactly(dicom_server, make_station, booked_order):
    """One accession number is an equality the index serves (the one-item query of the benchmark),
    asked in any case as before (ours are upper case); wildcards still match as patterns."""
    make_station("CT1", "CT", "CT suite")
    order = booked_order(DAY, "CT1", **CT_HEAD)
    booked_order(DAY + timedelta(minutes=30), "CT1", **CT_HEAD)

    def asking(accession: str) -> set[str]:
        query = day_query()
        query.AccessionNumber = accession
        return accessions(c_find(dicom_server, query)[1])

    assert asking(order.accession_number) == {order.accession_number}
    assert asking(order.accession_number.lower()) == {order.accession_number}
    assert asking(order.accession_number[:-1] + "?") >= {order.accession_number}
    assert asking(order.accession_number + "X") == set()
