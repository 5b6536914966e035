"""order_status_counts stays equal to a real count of the orders, whatever changes them.

The table is kept by database triggers (webapp.imaging.status_counts); the dashboard reads it.
Each check compares the table's non-zero rows with ``SELECT status, modality, priority,
count(*) FROM imaging_orders GROUP BY …`` and the dashboard's figures with real counts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Uuid, bindparam, create_engine, func, select, text

from tests.conftest import _empty_all_tables
from webapp.audit.guards import drop_guards
from webapp.auth.models import User
from webapp.extensions import db, writing
from webapp.imaging import services
from webapp.imaging.boards import dashboard_counts
from webapp.imaging.models import OPEN_STATUSES, STATUSES, ImagingOrder, OrderStatusCount
from webapp.imaging.queries import get_order
from webapp.imaging.status_counts import TRIGGER_NAMES, actual_counts, stored_counts

# Orders are booked "in an hour" and counted as today's: at mid-day (issue 26 #19).
pytestmark = pytest.mark.usefixtures("midday")


def assert_counts_exact() -> dict:
    """The table equals a GROUP BY of the orders, and the dashboard says the same."""
    connection = db.session.connection()
    actual = actual_counts(connection)
    assert stored_counts(connection) == actual
    counts = dashboard_counts()
    assert counts.by_status == {s: sum(n for (st, _, _), n in actual.items() if st == s) for s in STATUSES}
    assert counts.total == db.session.scalar(select(func.count()).select_from(ImagingOrder))
    open_by_modality = {}
    for (status, modality, _), n in actual.items():
        if status in OPEN_STATUSES:
            open_by_modality[modality] = open_by_modality.get(modality, 0) + n
    assert {m: n for m, n in counts.by_modality.items() if n} == open_by_modality
    for priority in ("stat", "urgent"):
        expected = sum(n for (st, _, p), n in actual.items() if st in OPEN_STATUSES and p == priority)
        assert getattr(counts, f"open_{priority}") == expected
    return actual


def _user(make_order, role):
    return db.session.get(User, make_order.person(role).id)


def test_counts_follow_creates_status_changes_and_edits(app, make_order, make_visit):
    visit = make_visit()
    with app.app_context():
        assert assert_counts_exact() == {}
    first = make_order("ordered", visit=visit)
    make_order("ordered", visit=visit, modality="CT", body_part="HEAD", procedure_code="70450", priority="stat")
    with app.app_context(), writing():
        assert assert_counts_exact() == {("ordered", "XRAY", "routine"): 1, ("ordered", "CT", "stat"): 1}
        order = get_order(first.id)
        steps = [
            lambda o: services.schedule_order(_user(make_order, "scheduler"), o, datetime.now(UTC) + timedelta(hours=1)),
            lambda o: services.start_order(_user(make_order, "technician"), o),
            lambda o: services.complete_order(_user(make_order, "technician"), o, number_of_images=3),
            lambda o: services.report_order(_user(make_order, "radiologist"), o, findings="Clear.", impression="Normal."),
        ]
        for step, status in zip(steps, ("scheduled", "in_progress", "completed", "reported"), strict=True):
            step(order)
            db.session.commit()
            assert assert_counts_exact()[(status, "XRAY", "routine")] == 1
        assert assert_counts_exact() == {("reported", "XRAY", "routine"): 1, ("ordered", "CT", "stat"): 1}

    # Cancelled from every open status.
    cancelled = [make_order(status, visit=visit, priority="urgent")
                 for status in ("ordered", "scheduled", "in_progress", "completed")]
    with app.app_context(), writing():
        assert assert_counts_exact()[("completed", "XRAY", "urgent")] == 1
        for made in cancelled:
            services.cancel_order(_user(make_order, "doctor"), get_order(made.id), reason="Not needed")
            db.session.commit()
            assert_counts_exact()
        assert assert_counts_exact() == {("reported", "XRAY", "routine"): 1, ("ordered", "CT", "stat"): 1,
                                         ("cancelled", "XRAY", "urgent"): 4}

    # Edits: modality and priority move the order between rows; other fields do not touch them.
    edited = make_order("scheduled", visit=visit)
    with app.app_context(), writing():
        doctor = _user(make_order, "doctor")
        services.update_order(doctor, get_order(edited.id), {"modality": "MRI", "body_part": "HEAD",
                                                             "procedure_code": "70551"})
        db.session.commit()
        assert assert_counts_exact()[("scheduled", "MRI", "routine")] == 1
        services.update_order(doctor, get_order(edited.id), {"priority": "stat"})
        db.session.commit()
        assert assert_counts_exact()[("scheduled", "MRI", "stat")] == 1
        services.update_order(doctor, get_order(edited.id), {"clinical_indication": "Headache after a fall"})
        db.session.commit()
        counts = assert_counts_exact()
        assert counts[("scheduled", "MRI", "stat")] == 1 and ("scheduled", "XRAY", "routine") not in counts
        # Rows that reached zero may stay; they hold 0, never less.
        assert db.session.scalar(select(func.min(OrderStatusCount.orders))) >= 0
        dashboard = dashboard_counts()
        assert dashboard.by_status == {"ordered": 1, "scheduled": 1, "in_progress": 0, "completed": 0,
                                       "reported": 1, "cancelled": 4}
        assert dashboard.by_modality["CT"] == 1 and dashboard.by_modality["MRI"] == 1
        assert dashboard.by_modality["XRAY"] == 0
        assert (dashboard.open_stat, dashboard.open_urgent, dashboard.total) == (2, 0, 7)


def test_a_rolled_back_transaction_leaves_the_counts_alone(app, make_order):
    kept = make_order("scheduled")
    with app.app_context(), writing():
        before = assert_counts_exact()
        services.start_order(_user(make_order, "technician"), get_order(kept.id))
        order = services.create_order(_user(make_order, "doctor"), patient_id=kept.patient_id, visit_id=kept.visit_id,
                                      modality="US", body_part="ABDOMEN", clinical_indication="Pain")
        services.cancel_order(_user(make_order, "doctor"), order, reason="Wrong patient")
        db.session.flush()
        assert stored_counts(db.session.connection()) != before  # the triggers did their work …
        db.session.rollback()
        assert assert_counts_exact() == before  # … and it went with the transaction


def _sql(statement: str, order_id) -> None:
    db.session.execute(text(statement).bindparams(bindparam("id", type_=Uuid)), {"id": order_id})


def test_plain_sql_changes_keep_the_counts(app, make_order):
    """No service layer: UPDATE and DELETE straight in SQL are counted too."""
    one, two = make_order("ordered"), make_order("completed", priority="urgent")
    with app.app_context(), writing():
        _sql("UPDATE imaging_orders SET status = 'cancelled' WHERE id = :id", one.id)
        _sql("UPDATE imaging_orders SET modality = 'CT', priority = 'stat' WHERE id = :id", two.id)
        _sql("UPDATE imaging_orders SET notes = 'no key change' WHERE id = :id", two.id)
        db.session.commit()
        assert assert_counts_exact() == {("cancelled", "XRAY", "routine"): 1, ("completed", "CT", "stat"): 1}

        # Deleting an order (which the app never does) takes it off; lift the audit guard for
        # that inside this transaction only, then roll everything back.
        drop_guards(db.session.connection())
        _sql("DELETE FROM order_events WHERE order_id = :id", one.id)
        _sql("DELETE FROM imaging_orders WHERE id = :id", one.id)
        assert assert_counts_exact() == {("completed", "CT", "stat"): 1}
        db.session.rollback()
        assert assert_counts_exact() == {("cancelled", "XRAY", "routine"): 1, ("completed", "CT", "stat"): 1}


def test_emptying_the_tables_empties_the_counts(app, make_order):
    make_order("scheduled")
    make_order("cancelled", modality="CT", body_part="HEAD", procedure_code="70450")
    with app.app_context(), writing():
        assert len(stored_counts(db.session.connection())) == 2
        _empty_all_tables()
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(OrderStatusCount)) == 0


@pytest.mark.sqlite_only
@pytest.mark.parametrize("first", ["imaging_orders", "order_status_counts"])
def test_create_all_installs_the_triggers_whichever_table_comes_first(tmp_path, first):
    tables = {t.name: t for t in db.metadata.sorted_tables}
    engine = create_engine(f"sqlite:///{tmp_path / 'order.db'}")
    second = "order_status_counts" if first == "imaging_orders" else "imaging_orders"
    for name in (first, second):
        db.metadata.create_all(engine, tables=[tables[name]])
    db.metadata.create_all(engine)  # the rest (existing tables are skipped)
    with engine.connect() as connection:
        triggers = set(connection.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")))
    engine.dispose()
    assert set(TRIGGER_NAMES[:3]) <= triggers
