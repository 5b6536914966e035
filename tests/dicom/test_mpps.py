"""MPPS N-CREATE / N-SET with pynetdicom: the order moves and its timeline shows the scanner."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom.sop_class import ModalityPerformedProcedureStep

from tests.dicom.conftest import association, c_find, echo_ok
from webapp.imaging.queries import get_order, order_events

pytestmark = pytest.mark.sqlite_only

START = datetime(2030, 3, 11, 9, 0, tzinfo=UTC)


def in_progress(order, station_ae="CT1", operator=None) -> Dataset:
    """The N-CREATE a scanner sends for a worklist item: the order's patient, accession number and step."""
    ds = Dataset()
    ds.PatientID = order.patient.mrn
    ds.PatientName = f"{order.patient.last_name}^{order.patient.first_name}"
    if operator is not None:
        ds.OperatorsName = operator
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedStationAETitle = station_ae
    ds.PerformedProcedureStepStartDate = "20300311"
    ds.PerformedProcedureStepStartTime = "091500"
    ds.PerformedProcedureStepID = order.accession_number
    ds.Modality = "CT"
    step = Dataset()
    step.AccessionNumber = order.accession_number
    step.StudyInstanceUID = order.study_instance_uid
    step.RequestedProcedureID = order.accession_number
    step.ScheduledProcedureStepID = order.accession_number
    ds.ScheduledStepAttributesSequence = [step]
    ds.PerformedSeriesSequence = []
    return ds


def completed(series_sizes: list[int], status: str = "COMPLETED") -> Dataset:
    ds = Dataset()
    ds.PerformedProcedureStepStatus = status
    ds.PerformedProcedureStepEndDate = "20300311"
    ds.PerformedProcedureStepEndTime = "093000"
    ds.PerformedSeriesSequence = []
    for size in series_sizes:
        series = Dataset()
        series.SeriesInstanceUID = generate_uid()
        series.ReferencedImageSequence = []
        for _ in range(size):
            image = Dataset()
            image.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
            image.ReferencedSOPInstanceUID = generate_uid()
            series.ReferencedImageSequence.append(image)
        ds.PerformedSeriesSequence.append(series)
    return ds


def n_create(port, ds, uid, calling_ae="CT1"):
    assoc = association(port, calling_ae)
    assert assoc.is_established
    try:
        status, _ = assoc.send_n_create(ds, ModalityPerformedProcedureStep, uid)
        return status
    finally:
        assoc.release()


def n_set(port, ds, uid, calling_ae="CT1"):
    assoc = association(port, calling_ae)
    assert assoc.is_established
    try:
        status, _ = assoc.send_n_set(ds, ModalityPerformedProcedureStep, uid)
        return status
    finally:
        assoc.release()


def state(app, order_id):
    with app.app_context():
        order = get_order(order_id)
        return order, [(e.event_type, e.from_status, e.to_status, e.actor_label, e.actor_role)
                       for e in order_events(order)]


@pytest.fixture
def ct_order(make_station, booked_order):
    make_station("CT1", "CT", "CT suite")
    return booked_order(START, "CT1", modality="CT", body_part="HEAD", procedure_code="70450")


def accession_query(order) -> Dataset:
    query = Dataset()
    query.AccessionNumber = order.accession_number
    query.StudyInstanceUID = ""
    return query


def test_n_create_starts_and_n_set_completes_the_order(app, dicom_server, ct_order):
    uid = generate_uid()
    status = n_create(dicom_server, in_progress(ct_order), uid)
    assert status.Status == 0x0000
    order, events = state(app, ct_order.id)
    assert order.status == "in_progress"
    assert order.performed_date is not None and order.performing_technician is None
    assert events[-1] == ("start", "scheduled", "in_progress", "Modality CT1", "technician")
    # Started orders leave the worklist.
    assert c_find(dicom_server, accession_query(ct_order)) == ([0x0000], [])

    interim = completed([2], status="IN PROGRESS")
    assert n_set(dicom_server, interim, uid).Status == 0x0000
    assert state(app, ct_order.id)[0].status == "in_progress"

    assert n_set(dicom_server, completed([4, 3]), uid).Status == 0x0000
    order, events = state(app, ct_order.id)
    assert order.status == "completed"
    assert order.number_of_images == 7
    assert [e[:3] for e in events] == [
        ("created", None, "ordered"), ("schedule", "ordered", "scheduled"),
        ("start", "scheduled", "in_progress"), ("complete", "in_progress", "completed"),
    ]
    assert events[-1][3:] == ("Modality CT1", "technician")

    # A finished step takes no more changes; the order stays as it was.
    again = n_set(dicom_server, completed([1]), uid)
    assert again.Status == 0x0110
    assert state(app, ct_order.id)[0].version == order.version
    assert echo_ok(dicom_server)


def test_discontinued_is_recorded_and_the_scanner_may_start_again(app, dicom_server, ct_order):
    first = generate_uid()
    assert n_create(dicom_server, in_progress(ct_order), first).Status == 0x0000
    stop = completed([], status="DISCONTINUED")
    reason = Dataset()
    reason.CodeValue, reason.CodingSchemeDesignator = "110514", "DCM"
    reason.CodeMeaning = "Incorrect worklist entry selected"
    stop.PerformedProcedureStepDiscontinuationReasonCodeSequence = [reason]
    assert n_set(dicom_server, stop, first).Status == 0x0000
    order, events = state(app, ct_order.id)
    assert order.status == "in_progress"
    assert events[-1][0] == "discontinued"
    with app.app_context():
        assert "Incorrect worklist entry selected" in order_events(get_order(ct_order.id))[-1].note

    second = generate_uid()
    assert n_create(dicom_server, in_progress(ct_order), second).Status == 0x0000
    assert n_set(dicom_server, completed([5]), second).Status == 0x0000
    order, events = state(app, ct_order.id)
    assert (order.status, order.number_of_images) == ("completed", 5)
    assert [e[0] for e in events] == ["created", "schedule", "start", "discontinued", "note", "complete"]


def test_mpps_changes_are_published_after_their_commit(app, dicom_server, ct_order, monkeypatch):
    from webapp.events import publishing

    sent = []
    monkeypatch.setattr(publishing, "publish_signals", lambda signals, *_type: sent.extend(signals) or len(signals))
    uid = generate_uid()
    assert n_create(dicom_server, in_progress(ct_order), uid).Status == 0x0000
    assert n_set(dicom_server, completed([2]), uid).Status == 0x0000
    assert [(s["accession_number"], s["status"]) for s in sent] == [
        (ct_order.accession_number, "in_progress"), (ct_order.accession_number, "completed")]
    # A refused message publishes nothing.
    assert n_set(dicom_server, completed([2]), uid).Status == 0x0110
    assert len(sent) == 2
