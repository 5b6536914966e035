"""The benchmark data generator writes what the service layer would have written.

Runs the generator at a tiny size on SQLite and checks the result through the app's own
models, queries and services, so the generator cannot silently drift from the schema.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bench.common import make_app
from bench.generate import generate
from webapp.extensions import db, writing
from webapp.imaging import services
from webapp.imaging.boards import dashboard_counts
from webapp.imaging.models import OPEN_STATUSES, STATUSES, ImagingOrder, OrderCounter, OrderEvent
from webapp.imaging.order_list import OrderFilter, list_orders
from webapp.imaging.queries import order_events
from webapp.imaging.status_counts import actual_counts, stored_counts
from webapp.patients.models import Patient
from webapp.visits.models import Diagnosis, Visit

ORDERS = 3000
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
STEP_STATUS = {"created": "ordered", "schedule": "scheduled", "reschedule": "scheduled", "start": "in_progress",
               "complete": "completed", "report": "reported", "cancel": "cancelled"}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('bench') / 'bench.db'}"
    summary = generate(url, orders=ORDERS, years=3, seed=11, now=NOW, progress=False)
    app = make_app(url)
    yield app, summary
    with app.app_context():
        db.engine.dispose()


def test_counts_and_statuses(generated):
    app, summary = generated
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ImagingOrder)) == ORDERS == summary.orders
        assert db.session.scalar(select(func.count()).select_from(Patient)) == summary.patients > 0
        assert db.session.scalar(select(func.count()).select_from(Visit)) == summary.visits > 0
        assert db.session.scalar(select(func.count()).select_from(Diagnosis)) >= summary.visits
        by_status = dict(db.session.execute(select(ImagingOrder.status, func.count()).group_by(ImagingOrder.status)).all())
        assert set(by_status) == set(STATUSES), by_status
        assert by_status == summary.by_status
        assert {m for (m,) in db.session.execute(select(ImagingOrder.modality).distinct())} == {
            "XRAY", "CT", "MRI", "US", "MG", "FL"}
        assert {p for (p,) in db.session.execute(select(ImagingOrder.priority).distinct())} == {
            "routine", "urgent", "stat"}
        # Every order belongs to its visit's patient.
        assert not db.session.scalar(
            select(func.count()).select_from(ImagingOrder).join(Visit, Visit.id == ImagingOrder.visit_id)
            .where(Visit.patient_id != ImagingOrder.patient_id)
        )
        # order_status_counts was rebuilt after the load: it equals a real GROUP BY.
        connection = db.session.connection()
        assert stored_counts(connection) == actual_counts(connection)
        assert sum(stored_counts(connection).values()) == ORDERS
        counts = dashboard_counts(NOW)
        assert counts.total == ORDERS and counts.by_status == by_status
        assert sum(counts.by_modality.values()) == sum(by_status[s] for s in OPEN_STATUSES)
        open_stat = db.session.scalar(select(func.count()).select_from(ImagingOrder).where(
            ImagingOrder.status.in_(OPEN_STATUSES), ImagingOrder.priority == "stat"))
        assert counts.open_stat == open_stat


def test_numbers_are_consecutive_per_year_and_match_the_counters(generated):
    app, _ = generated
    with app.app_context():
        rows = db.session.execute(
            select(ImagingOrder.accession_number, ImagingOrder.order_number, ImagingOrder.ordered_date,
                   ImagingOrder.study_instance_uid)
        ).all()
        counters = dict(db.session.execute(select(OrderCounter.year, OrderCounter.last_value)).all())
    by_year = defaultdict(list)
    for accession, order_number, ordered, uid in rows:
        match = re.fullmatch(r"ACC-(\d{4})-(\d{5,})", accession)
        assert match and order_number == "ORD-" + accession[4:]
        assert int(match[1]) == ordered.year  # APP_TIMEZONE is UTC in tests
        assert re.fullmatch(r"2\.25\.[1-9]\d*", uid) and len(uid) <= 64
        by_year[int(match[1])].append((ordered, int(match[2])))
    assert len({r[3] for r in rows}) == ORDERS
    assert set(by_year) == set(counters) and len(counters) >= 3
    for year, items in by_year.items():
        items.sort()
        assert [n for _, n in items] == list(range(1, len(items) + 1)), year  # in time order, no gaps
        assert counters[year] == len(items)


def test_events_tell_each_orders_story(generated):
    app, _ = generated
    with app.app_context():
        versions = dict(db.session.execute(select(ImagingOrder.id, ImagingOrder.version)).all())
        statuses = dict(db.session.execute(select(ImagingOrder.id, ImagingOrder.status)).all())
        events = defaultdict(list)
        for event in db.session.scalars(select(OrderEvent).order_by(OrderEvent.id)):
            events[event.order_id].append(event)
        assert set(events) == set(versions)
        for order_id, story in events.items():
            assert [e.order_version for e in story] == list(range(1, versions[order_id] + 1))
            assert story[0].event_type == "created" and story[0].from_status is None
            assert story[-1].to_status == statuses[order_id]
            assert [e.created_at for e in story] == sorted(e.created_at for e in story)
            for before, after in zip(story, story[1:], strict=False):
                assert after.from_status == before.to_status
                if after.event_type in STEP_STATUS:
                    assert after.to_status == STEP_STATUS[after.event_type]
                assert after.event_type != "note" or after.to_status == after.from_status
        sample = db.session.scalars(select(ImagingOrder).where(ImagingOrder.status == "reported").limit(20))
        for order in sample:
            assert order.reported_date and order.findings and order.impression and order.reporting_radiologist
            assert order.performed_date <= order.completed_date <= order.reported_date <= NOW
            assert order.updated_at == order_events(order)[-1].created_at
            assert json.dumps(order_events(order)[-1].changes)


def test_the_app_reads_and_changes_generated_orders(generated):
    """Filters and the keyset cursor work on the loaded values; services continue the numbering."""
    app, _ = generated
    with app.app_context(), writing():
        filters = OrderFilter.from_args({"status": "reported", "modality": "XRAY", "date_from": "2025-01-01",
                                         "date_to": "2025-12-31"})
        expected = db.session.scalar(
            select(func.count()).select_from(ImagingOrder).where(
                ImagingOrder.status == "reported", ImagingOrder.modality == "XRAY",
                ImagingOrder.ordered_date >= datetime(2025, 1, 1, tzinfo=UTC),
                ImagingOrder.ordered_date < datetime(2026, 1, 1, tzinfo=UTC)))
        assert expected > 50
        seen, cursor = [], None
        while True:
            page, cursor = list_orders(filters, limit=50, cursor=cursor)
            seen.extend(page)
            if cursor is None:
                break
        assert len(seen) == expected == len({o.id for o in seen})
        assert all(o.status == "reported" and o.modality == "XRAY" and o.ordered_date.year == 2025 for o in seen)

        order = db.session.scalars(select(ImagingOrder).where(ImagingOrder.status == "ordered").limit(1)).one()
        version = order.version
        services.cancel_order(order.ordering_doctor, order, reason="Benchmark test")
        assert order.version == version + 1 and order_events(order)[-1].order_version == version + 1
        new = services.create_order(order.ordering_doctor, patient_id=order.patient_id, visit_id=order.visit_id,
                                    modality="XRAY", body_part="CHEST", clinical_indication="Test", now=NOW)
        counter = db.session.get(OrderCounter, 2026).last_value
        assert new.accession_number == f"ACC-2026-{counter:05d}"
        # The count triggers are back after the load: the cancel and the new order are counted.
        connection = db.session.connection()
        assert stored_counts(connection) == actual_counts(connection)
        db.session.rollback()
