"""What a C-FIND identifier gets back: refusals for nonsense, the requester's character set, order numbers
and descriptions cut on a word."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from pydicom.dataset import Dataset
from pynetdicom import association as pynetdicom_association
from pynetdicom.sop_class import ModalityWorklistInformationFind

from tests.dicom.conftest import association, c_find, echo_ok, findscu

pytestmark = pytest.mark.sqlite_only

START = datetime(2030, 3, 11, 9, 0, tzinfo=UTC)


def c_find_statuses(port: int, identifier: Dataset) -> list[Dataset]:
    """Every status dataset of one C-FIND (pending ones and the final one)."""
    assoc = association(port)
    assert assoc.is_established
    try:
        return [status for status, _ in assoc.send_c_find(identifier, ModalityWorklistInformationFind)]
    finally:
        assoc.release()


@pytest.fixture
def three_orders(booked_order):
    return [booked_order(START) for _ in range(3)]


@pytest.mark.parametrize("seed", range(6))
def test_random_bytes_are_not_a_query(app, dicom_server, three_orders, monkeypatch, seed):
    garbage = Dataset()
    noise = random.Random(seed).randbytes(200)
    real_encode = pynetdicom_association.encode
    monkeypatch.setattr(pynetdicom_association, "encode",
                        lambda ds, *a: noise if ds is garbage else real_encode(ds, *a))
    statuses = c_find_statuses(dicom_server, garbage)
    assert [s.Status for s in statuses] == [0xC000]
    assert "cannot be read" in statuses[0].ErrorComment
    assert echo_ok(dicom_server)


@pytest.mark.parametrize("keyword, value", [
    ("Modality", "CT"), ("ScheduledStationAETitle", "CT1"), ("ScheduledProcedureStepStartDate", "20300311"),
])
def test_scheduled_step_keys_at_the_top_level_are_refused(app, dicom_server, three_orders, keyword, value):
    query = Dataset()
    query.AccessionNumber = ""
    setattr(query, keyword, value)
    statuses = c_find_statuses(dicom_server, query)
    assert [s.Status for s in statuses] == [0xA900]
    assert "(0040,0100)" in statuses[0].ErrorComment  # the Scheduled Procedure Step Sequence
    assert keyword in statuses[0].ErrorComment
    # The same key in the sequence is a query; an empty one at the top level only asks for nothing.
    query = Dataset()
    query.AccessionNumber = ""
    setattr(query, keyword, "")
    assert c_find(dicom_server, query)[0][-1] == 0x0000


def test_latin1_requester_gets_latin1_when_everything_fits(app, dicom_server, make_patient, make_visit,
                                                          booked_order, tmp_path):
    fits = booked_order(START, visit=make_visit(patient=make_patient(first_name="Zoë", last_name="Ødegård")))
    polish = booked_order(START, visit=make_visit(patient=make_patient(first_name="Łucja", last_name="Wróbel")))
    keys = ["SpecificCharacterSet=ISO_IR 100", "PatientName", "AccessionNumber"]
    items = {item.AccessionNumber: item for item in findscu(dicom_server, keys, tmp_path)}
    latin = items[fits.accession_number]
    assert latin.SpecificCharacterSet == "ISO_IR 100"
    assert latin.get_item("PatientName").value.rstrip(b" ") == "Ødegård^Zoë".encode("latin-1")
    assert str(latin.PatientName) == "Ødegård^Zoë"
    other = items[polish.accession_number]  # Ł is not Latin-1: UTF-8, said so
    assert other.SpecificCharacterSet == "ISO_IR 192"
    assert other.get_item("PatientName").value.rstrip(b" ") == "Wróbel^Łucja".encode()
    # A requester that asks for nothing in particular keeps getting UTF-8.
    plain = findscu(dicom_server, ["PatientName", f"AccessionNumber={fits.accession_number}"], tmp_path)
    assert plain[0].SpecificCharacterSet == "ISO_IR 192"
    assert plain[0].get_item("PatientName").value.rstrip(b" ") == "Ødegård^Zoë".encode()


def test_placer_and_filler_order_numbers(app, dicom_server, booked_order, tmp_path):
    order = booked_order(START)
    keys = ["AccessionNumber", "PlacerOrderNumberImagingServiceRequest", "FillerOrderNumberImagingServiceRequest"]
    item = findscu(dicom_server, keys, tmp_path)[0]
    assert item.PlacerOrderNumberImagingServiceRequest == order.order_number
    assert item.FillerOrderNumberImagingServiceRequest == order.accession_number


def test_long_values_are_cut_on_a_word_with_a_mark(app, dicom_server, make_station, booked_order):
    make_station("DX1", "XRAY", "Radiography room 1 at the far end of the east wing")
    indication = "Fall on outstretched hand; " + "swelling and tenderness " * 20
    booked_order(START, "DX1", clinical_indication=indication)
    query = Dataset()
    query.ReasonForTheRequestedProcedure = ""
    query.ScheduledProcedureStepSequence = [Dataset()]
    query.ScheduledProcedureStepSequence[0].ScheduledProcedureStepLocation = ""
    _, items = c_find(dicom_server, query)
    reason = items[0].ReasonForTheRequestedProcedure
    assert len(reason) <= 64 and reason.endswith("...")
    kept = reason.removesuffix("...").rstrip()
    assert indication.startswith(kept) and indication[len(kept)] == " "  # a whole word
    assert len(kept) > 40
    location = items[0].ScheduledProcedureStepSequence[0].ScheduledProcedureStepLocation
    assert location == "Radiography..."  # SH: 16 characters
