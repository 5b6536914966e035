"""Bad input gets a DICOM failure status, leaves orders untouched, and the service answers on."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from tests.dicom.conftest import association, c_find, echo_ok, findscu
from tests.dicom.test_mpps import completed, in_progress, n_create, n_set, state
from webapp.dicom.models import PerformedProcedureStep
from webapp.extensions import db

pytestmark = pytest.mark.sqlite_only

START = datetime(2030, 3, 11, 9, 0, tzinfo=UTC)
CT_HEAD = {"modality": "CT", "body_part": "HEAD", "procedure_code": "70450"}


@pytest.fixture
def app_config():
    return {"DICOM_ALLOWED_AE_TITLES": ["CT1", "PYSCU", "FINDSCU"]}


def sps_query(**values) -> Dataset:
    step = Dataset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the invalid values these tests send
        for name, value in values.items():
            setattr(step, name, value)
    query = Dataset()
    query.AccessionNumber = ""
    query.ScheduledProcedureStepSequence = [step]
    return query


@pytest.mark.parametrize("query", [
    sps_query(ScheduledProcedureStepStartDate="20301399"),
    sps_query(ScheduledProcedureStepStartDate="yesterday"),
    sps_query(ScheduledProcedureStepStartDate="20300312-20300311"),
    sps_query(ScheduledProcedureStepStartTime="2561"),
    sps_query(ScheduledProcedureStepStartDate="20300311", ScheduledProcedureStepStartTime="1100-1000"),
    sps_query(ScheduledProcedureStepStartDate="2030031-"),
], ids=["no-such-day", "not-a-date", "backwards-range", "not-a-time", "backwards-times", "short-date"])
def test_malformed_query_is_refused(app, dicom_server, make_station, booked_order, query):
    make_station("CT1", "CT")
    booked_order(START, "CT1", **CT_HEAD)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns while encoding the invalid value
        statuses, items = c_find(dicom_server, query)
    assert statuses == [0xA900] and items == []
    assert echo_ok(dicom_server)


def test_two_scheduled_steps_in_one_query_are_refused(app, dicom_server):
    query = sps_query(Modality="CT")
    query.ScheduledProcedureStepSequence.append(Dataset())
    query.ScheduledProcedureStepSequence[1].Modality = "MR"
    assert c_find(dicom_server, query) == ([0xA900], [])
    assert echo_ok(dicom_server)


def test_unknown_calling_ae_title_is_rejected(app, dicom_server, make_station, booked_order, tmp_path):
    make_station("CT1", "CT")
    order = booked_order(START, "CT1", **CT_HEAD)
    intruder = association(dicom_server, "INTRUDER")
    assert intruder.is_rejected
    assert not echo_ok(dicom_server, "INTRUDER")
    # Nor can it send MPPS: the order is untouched.
    assert state(app, order.id)[0].status == "scheduled"
    items = findscu(dicom_server, ["AccessionNumber", "StudyInstanceUID"], tmp_path / "ok")
    assert {item.AccessionNumber for item in items} == {order.accession_number}
    assert echo_ok(dicom_server, "CT1")


def _unchanged(app, order):
    after, events = state(app, order.id)
    assert (after.status, after.version, after.performed_date) == (order.status, order.version, order.performed_date)
    with app.app_context():
        assert db.session.query(PerformedProcedureStep).count() == 0
    return events


def test_mpps_for_unknown_accession_number(app, dicom_server, make_station, booked_order):
    make_station("CT1", "CT")
    order = booked_order(START, "CT1", **CT_HEAD)
    ds = in_progress(order)
    ds.ScheduledStepAttributesSequence[0].AccessionNumber = "ACC-1999-99999"
    status = n_create(dicom_server, ds, generate_uid())
    assert status.Status == 0x0106
    assert "ACC-1999-99999" in status.ErrorComment
    _unchanged(app, order)
    ds.ScheduledStepAttributesSequence[0].AccessionNumber = ""
    assert n_create(dicom_server, ds, generate_uid()).Status == 0x0121
    _unchanged(app, order)
    assert echo_ok(dicom_server)


@pytest.mark.parametrize("status", ["ordered", "completed", "cancelled"])
def test_mpps_for_an_order_in_the_wrong_state(app, dicom_server, make_order, booked_order, status):
    order = make_order("ordered", **CT_HEAD) if status == "ordered" else booked_order(START, status=status, **CT_HEAD)
    events_before = state(app, order.id)[1]
    answer = n_create(dicom_server, in_progress(order), generate_uid())
    assert answer.Status == 0x0110
    assert order.accession_number in answer.ErrorComment
    assert _unchanged(app, order) == events_before
    assert echo_ok(dicom_server)


def test_mpps_messages_that_make_no_sense(app, dicom_server, make_station, booked_order):
    make_station("CT1", "CT")
    order = booked_order(START, "CT1", **CT_HEAD)
    wrong = in_progress(order)
    wrong.PerformedProcedureStepStatus = "COMPLETED"
    assert n_create(dicom_server, wrong, generate_uid()).Status == 0x0106  # must begin IN PROGRESS
    assert n_set(dicom_server, completed([1]), generate_uid()).Status == 0x0112  # no such step
    _unchanged(app, order)

    uid = generate_uid()
    assert n_create(dicom_server, in_progress(order), uid).Status == 0x0000
    assert n_create(dicom_server, in_progress(order), uid).Status == 0x0111  # the same step twice
    odd = completed([1], status="PAUSED")
    assert n_set(dicom_server, odd, uid).Status == 0x0106
    after, events = state(app, order.id)
    assert after.status == "in_progress" and [e[0] for e in events][-1] == "start"
    assert echo_ok(dicom_server)
