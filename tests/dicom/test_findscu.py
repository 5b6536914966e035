"""dcmtk's ``findscu -W`` against the running worklist service, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.dicom.conftest import findscu

DAY = datetime(2030, 3, 11, 9, 0, tzinfo=UTC)
RETURN_KEYS = [
    "AccessionNumber",
    "StudyInstanceUID",
    "PatientName",
    "ScheduledProcedureStepSequence[0].Modality",
    "ScheduledProcedureStepSequence[0].ScheduledStationAETitle",
    "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate",
]
CT_HEAD = {"modality": "CT", "body_part": "HEAD", "procedure_code": "70450"}


def _keys(**sps_matching) -> list[str]:
    keys = [k for k in RETURN_KEYS if k.split(".")[-1] not in sps_matching]
    return keys + [f"ScheduledProcedureStepSequence[0].{name}={value}" for name, value in sps_matching.items()]


def _found(items) -> set[tuple[str, str]]:
    return {(str(item.AccessionNumber), str(item.StudyInstanceUID)) for item in items}


def _ids(*orders) -> set[tuple[str, str]]:
    return {(order.accession_number, order.study_instance_uid) for order in orders}


def test_findscu_matches_modality_dates_accession_and_station(
    app, dicom_server, make_station, booked_order, make_order, tmp_path
):
    make_station("DX1", "XRAY", "X-ray room 1")
    make_station("CT1", "CT", "CT suite")
    make_station("CT2", "CT", "Emergency CT")
    chest = booked_order(DAY, "DX1")
    head = booked_order(DAY + timedelta(hours=2), "CT1", **CT_HEAD)
    head_later = booked_order(DAY + timedelta(days=2), "CT1", **CT_HEAD)
    emergency = booked_order(DAY + timedelta(days=1), "CT2", **CT_HEAD)
    unbooked = booked_order(DAY + timedelta(hours=3), **CT_HEAD)
    # Never offered: not yet scheduled (DICOM_OFFER_ORDERED is off), started, completed, cancelled.
    make_order("ordered", **CT_HEAD)
    # (The completed scan first: one scan at a time per scanner, issue 25.)
    booked_order(DAY, "CT1", status="completed", **CT_HEAD)
    booked_order(DAY, "CT1", status="in_progress", **CT_HEAD)
    booked_order(DAY, "CT1", status="cancelled", **CT_HEAD)

    out = tmp_path / "rsp"
    assert _found(findscu(dicom_server, _keys(Modality="CT"), out)) == _ids(head, head_later, emergency, unbooked)
    items = findscu(dicom_server, _keys(Modality="DX"), out)
    assert _found(items) == _ids(chest)
    assert items[0].ScheduledProcedureStepSequence[0].Modality == "DX"
    assert str(items[0].PatientName) == "Garcia^Maria"
    # A CR scanner is offered the plain radiography and told CR back.
    items = findscu(dicom_server, _keys(Modality="CR"), out)
    assert _found(items) == _ids(chest)
    assert items[0].ScheduledProcedureStepSequence[0].Modality == "CR"
    assert findscu(dicom_server, _keys(Modality="MR"), out) == []

    assert _found(findscu(dicom_server, _keys(ScheduledProcedureStepStartDate="20300311"), out)) == _ids(
        chest, head, unbooked
    )
    assert _found(findscu(dicom_server, _keys(ScheduledProcedureStepStartDate="20300312-20300313"), out)) == _ids(
        head_later, emergency
    )
    assert _found(findscu(dicom_server, _keys(ScheduledProcedureStepStartDate="20300312-"), out)) == _ids(
        head_later, emergency
    )
    assert _found(
        findscu(dicom_server, _keys(Modality="CT", ScheduledProcedureStepStartDate="-20300311"), out)
    ) == _ids(head, unbooked)

    items = findscu(dicom_server, [*RETURN_KEYS[1:], f"AccessionNumber={head_later.accession_number}"], out)
    assert _found(items) == _ids(head_later)

    items = findscu(dicom_server, _keys(ScheduledStationAETitle="CT1"), out)
    assert _found(items) == _ids(head, head_later)
    assert {item.ScheduledProcedureStepSequence[0].ScheduledStationAETitle for item in items} == {"CT1"}
    assert _found(findscu(dicom_server, _keys(ScheduledStationAETitle="CT2"), out)) == _ids(emergency)
    assert _found(findscu(dicom_server, _keys(ScheduledStationAETitle="CT*"), out)) == _ids(
        head, head_later, emergency
    )
    assert findscu(dicom_server, _keys(ScheduledStationAETitle="MR1"), out) == []


@pytest.mark.sqlite_only
def test_findscu_answers_only_the_keys_asked_for_in_utf8(app, dicom_server, make_station, booked_order,
                                                      make_patient, make_visit, tmp_path):
    make_station("US1", "US", "Ultrasound 1")
    patient = make_patient(first_name="Zoë", last_name="Ødegård")
    order = booked_order(DAY, "US1", visit=make_visit(patient=patient), modality="US", body_part="ABDOMEN",
                         procedure_code="76700")
    items = findscu(dicom_server, ["PatientName", "AccessionNumber", "ScheduledProcedureStepSequence"], tmp_path)
    assert len(items) == 1
    item = items[0]
    assert item.SpecificCharacterSet == "ISO_IR 192"
    assert str(item.PatientName) == "Ødegård^Zoë"
    assert item.AccessionNumber == order.accession_number
    assert "StudyInstanceUID" not in item and "PatientID" not in item
    step = item.ScheduledProcedureStepSequence[0]  # an empty sequence key asks for whole items
    assert (step.Modality, step.ScheduledStationAETitle, step.ScheduledProcedureStepStartTime) == ("US", "US1", "090000")
