"""Accession and order numbers: unique, consecutive per year, safe under concurrent writers."""

import multiprocessing
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from webapp import create_app
from webapp.auth.models import User
from webapp.config import TestConfig
from webapp.extensions import db, writing
from webapp.imaging import services
from webapp.imaging.models import ImagingOrder, OrderCounter
from webapp.imaging.numbering import format_number, new_study_instance_uid

UID_RE = re.compile(r"^2\.25\.(0|[1-9][0-9]*)$")


def _create(app_ctx_user, visit, now=None):
    return services.create_order(
        db.session.get(User, app_ctx_user.id), patient_id=visit.patient_id, visit_id=visit.id,
        modality="XRAY", body_part="CHEST", clinical_indication="Cough", now=now,
    )


def test_first_numbers_of_the_year(app, make_user, make_visit):
    doctor, visit = make_user("doctor"), make_visit()
    with app.app_context(), writing():
        first = _create(doctor, visit, now=datetime(2026, 3, 1, tzinfo=UTC))
        second = _create(doctor, visit, now=datetime(2026, 3, 1, 1, tzinfo=UTC))
        db.session.commit()
        assert (first.accession_number, first.order_number) == ("ACC-2026-00001", "ORD-2026-00001")
        assert (second.accession_number, second.order_number) == ("ACC-2026-00002", "ORD-2026-00002")
        assert UID_RE.match(first.study_instance_uid) and len(first.study_instance_uid) <= 64
        assert first.study_instance_uid != second.study_instance_uid


def test_year_change_restarts_at_00001(app, make_user, make_visit):
    doctor, visit = make_user("doctor"), make_visit()
    with app.app_context(), writing():
        last = _create(doctor, visit, now=datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC))
        _create(doctor, visit, now=datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC))
        new_year = _create(doctor, visit, now=datetime(2027, 1, 1, 0, 0, 1, tzinfo=UTC))
        db.session.commit()
        assert last.accession_number == "ACC-2026-00001"
        assert new_year.accession_number == "ACC-2027-00001"
        assert new_year.order_number == "ORD-2027-00001"


@pytest.mark.parametrize("app_config", [{"APP_TIMEZONE": "Pacific/Auckland"}])
def test_year_is_the_clinics_year(app, make_user, make_visit):
    """23:30 UTC on 31 December is already 1 January in Auckland."""
    doctor, visit = make_user("doctor"), make_visit()
    with app.app_context(), writing():
        order = _create(doctor, visit, now=datetime(2026, 12, 31, 23, 30, tzinfo=UTC))
        db.session.commit()
        assert order.accession_number == "ACC-2027-00001"


def test_six_digits_past_99999(app, make_user, make_visit):
    doctor, visit = make_user("doctor"), make_visit()
    with app.app_context(), writing():
        db.session.add(OrderCounter(year=2026, last_value=99998))
        db.session.flush()
        a = _create(doctor, visit, now=datetime(2026, 6, 1, tzinfo=UTC))
        b = _create(doctor, visit, now=datetime(2026, 6, 1, tzinfo=UTC))
        db.session.commit()
        assert a.accession_number == "ACC-2026-99999"
        assert b.accession_number == "ACC-2026-100000"
        assert b.order_number == "ORD-2026-100000"
        assert len(b.accession_number) <= 16  # DICOM SH


@pytest.mark.sqlite_only
def test_format_and_uid():
    assert format_number("ACC", 2026, 7) == "ACC-2026-00007"
    assert format_number("ORD", 2026, 123456) == "ORD-2026-123456"
    uids = {new_study_instance_uid() for _ in range(1000)}
    assert len(uids) == 1000 and all(UID_RE.match(u) and len(u) <= 64 for u in uids)


def test_a_failed_order_releases_its_number(app, make_user, make_visit):
    doctor, visit = make_user("doctor"), make_visit()
    with app.app_context(), writing():
        _create(doctor, visit, now=datetime(2026, 2, 1, tzinfo=UTC))
        db.session.rollback()
        order = _create(doctor, visit, now=datetime(2026, 2, 1, tzinfo=UTC))
        db.session.commit()
        assert order.accession_number == "ACC-2026-00001"


PROCESSES, PER_PROCESS = 8, 200


def _worker(url, doctor_id, patient_id, visit_id, start_event, results):
    app = create_app(TestConfig(url))
    made = []
    with app.app_context():
        start_event.wait()
        for _ in range(PER_PROCESS):
            with writing():
                order = services.create_order(
                    db.session.get(User, doctor_id), patient_id=patient_id, visit_id=visit_id,
                    modality="CT", body_part="HEAD", clinical_indication="Headache",
                    now=datetime(2026, 8, 1, tzinfo=UTC),
                )
                db.session.commit()
                made.append((order.accession_number, order.order_number))
        db.engine.dispose()
    results.put(made)


def test_concurrent_processes_get_distinct_consecutive_numbers(app, database_url, make_user, make_visit):
    doctor, visit = make_user("doctor"), make_visit()
    context = multiprocessing.get_context("spawn")
    start_event, results = context.Event(), context.Queue()
    workers = [
        context.Process(target=_worker, args=(database_url, doctor.id, visit.patient_id, visit.id, start_event, results))
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    start_event.set()
    collected = [results.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    pairs = [pair for made in collected for pair in made]
    assert len(pairs) == PROCESSES * PER_PROCESS
    accessions = sorted(int(a.rsplit("-", 1)[1]) for a, _ in pairs)
    assert accessions == list(range(1, PROCESSES * PER_PROCESS + 1))
    assert all(a[4:] == o[4:] for a, o in pairs)
    with app.app_context():
        stored = db.session.scalars(select(ImagingOrder.order_number)).all()
        assert len(set(stored)) == PROCESSES * PER_PROCESS
