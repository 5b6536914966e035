"""Audit integrity: append-only events (triggers), the hash chain, `audit verify`, access logging."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from webapp.audit import log_patient_access
from webapp.audit.chain import GENESIS_HASH, AppendOnlyViolation, event_hash, verify_chain
from webapp.audit.guards import drop_guards, install_guards
from webapp.audit.models import PatientAccessLog
from webapp.auth.models import User
from webapp.extensions import db, writing
from webapp.imaging import services
from webapp.imaging.models import ImagingOrder, OrderEvent


def _sql_refused(app, statement: str) -> str:
    with app.app_context(), writing():
        try:
            db.session.execute(text(statement))
            db.session.commit()
        except DBAPIError as exc:
            db.session.rollback()
            return str(exc.orig)
    raise AssertionError(f"{statement!r} was not refused")


def test_plain_sql_cannot_update_or_delete_events(app, make_order):
    make_order("scheduled")
    assert "append-only" in _sql_refused(app, "UPDATE order_events SET note = 'rewritten'")
    assert "append-only" in _sql_refused(app, "DELETE FROM order_events")
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            assert "append-only" in _sql_refused(app, "TRUNCATE order_events CASCADE")
            assert "append-only" in _sql_refused(app, "TRUNCATE imaging_orders CASCADE")
        assert db.session.scalar(select(func.count()).select_from(OrderEvent)) == 2
        assert db.session.scalar(select(func.count()).where(OrderEvent.note == "rewritten")) == 0
    make_order()  # appending still works
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OrderEvent)) == 3


@pytest.mark.sqlite_only
def test_the_session_refuses_to_change_or_delete_an_event(app, make_order):
    make_order()
    with app.app_context(), writing():
        event = db.session.scalars(select(OrderEvent)).one()
        event.note = "rewritten"
        with pytest.raises(AppendOnlyViolation):
            db.session.flush()
        db.session.rollback()
        db.session.delete(db.session.scalars(select(OrderEvent)).one())
        with pytest.raises(AppendOnlyViolation):
            db.session.flush()
        db.session.rollback()


def test_each_event_chains_onto_the_one_before(app, make_order):
    make_order("reported")
    make_order("cancelled")
    with app.app_context():
        events = db.session.scalars(select(OrderEvent).order_by(OrderEvent.id)).all()
        assert len(events) == 5 + 2
        prev = GENESIS_HASH
        for event in events:
            assert event.prev_hash == prev
            assert event.row_hash == event_hash(prev, {c: getattr(event, c) for c in (
                "id", "order_id", "event_type", "from_status", "to_status", "order_version", "actor_id",
                "actor_label", "actor_role", "created_at", "changes", "note")})
            prev = event.row_hash
        assert len({e.row_hash for e in events}) == len(events)


def test_audit_verify_reports_the_first_broken_link(app, runner, make_order):
    for status in ("reported", "in_progress", "ordered"):
        make_order(status)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "OK: 9 events" in result.output

    with app.app_context(), writing():
        ids = db.session.scalars(select(OrderEvent.id).order_by(OrderEvent.id)).all()
        # What someone with the owner's rights could do: drop the guard and edit quietly.
        drop_guards(db.session.connection())
        db.session.execute(text("UPDATE order_events SET note = 'edited' WHERE id = :id"), {"id": ids[3]})
        install_guards(db.session.connection())
        db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"event {ids[3]} was changed" in result.output
    assert "after 3 good events" in result.output

    with app.app_context(), writing():
        drop_guards(db.session.connection())
        db.session.execute(text("UPDATE order_events SET note = NULL WHERE id = :id"), {"id": ids[3]})
        db.session.execute(text("DELETE FROM order_events WHERE id = :id"), {"id": ids[5]})
        install_guards(db.session.connection())
        db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"event {ids[6]} does not follow event {ids[4]}" in result.output


def test_audit_verify_notices_events_cut_off_the_end(app, runner, make_order):
    make_order("scheduled")
    with app.app_context(), writing():
        drop_guards(db.session.connection())
        db.session.execute(text("DELETE FROM order_events WHERE id = (SELECT MAX(id) FROM order_events)"))
        install_guards(db.session.connection())
        db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "is at version 2 but has 1 events" in result.output


def test_concurrent_writers_keep_one_linear_chain(app, make_order):
    """Eight threads add notes to their own orders at once: the chain must not fork."""
    orders = [make_order() for _ in range(8)]
    doctor_id = orders[0].ordered_by
    errors: list[BaseException] = []
    start = threading.Barrier(len(orders))

    def add_notes(order_id):
        try:
            start.wait()
            for n in range(5):
                with app.app_context(), writing():
                    order = db.session.get(ImagingOrder, order_id)
                    services.add_note(db.session.get(User, doctor_id), order, f"note {n}")
                    db.session.commit()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=add_notes, args=(o.id,)) for o in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    with app.app_context():
        result = verify_chain(db.session)
        assert result.ok, result.problem
        assert result.checked == 8 + 8 * 5
        prevs = db.session.scalars(select(OrderEvent.prev_hash)).all()
        assert len(set(prevs)) == len(prevs)  # no two events chained onto the same predecessor


def test_patient_access_is_logged_in_reads_and_writes(app, make_user, make_patient):
    user = make_user("doctor")
    patient = make_patient()
    with app.test_request_context("/patients/x", method="GET"):
        log_patient_access(user, patient.id, "imaging history")
        db.session.rollback()  # the read request's own transaction does not carry the row
    with app.app_context(), writing():
        log_patient_access(user, str(patient.id), "order ACC-2026-00001")
        db.session.commit()
    with app.app_context():
        rows = db.session.scalars(select(PatientAccessLog).order_by(PatientAccessLog.id)).all()
        assert [(r.username, r.user_role, r.patient_ids, r.what) for r in rows] == [
            (user.username, "doctor", {patient.id}, "imaging history"),
            (user.username, "doctor", {patient.id}, "order ACC-2026-00001"),
        ]
        assert rows[0].request_path == "GET /patients/x"
    assert "append-only" in _sql_refused(app, "DELETE FROM patient_access_log")
    assert "append-only" in _sql_refused(app, "DELETE FROM patient_access_log_patients")
    assert "append-only" in _sql_refused(app, "UPDATE patient_access_log_patients SET patient_id = NULL")


def _triggers(conn) -> set[str]:
    """The audit tables' triggers (imaging_orders has triggers of its own: order_status_counts)."""
    if conn.dialect.name == "postgresql":
        query = ("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
                 "AND tgrelid::regclass::text IN ('order_events', 'patient_access_log')")
    else:
        query = ("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                 "AND tbl_name IN ('order_events', 'patient_access_log')")
    return set(conn.execute(text(query)).scalars())


def test_migrations_install_the_triggers(app, scratch_database):
    """The migration path (not create_all) protects the tables too, and downgrades cleanly."""
    import flask_migrate

    from webapp import create_app
    from webapp.config import TestConfig

    url = scratch_database()
    migrated = create_app(TestConfig(url))
    insert = text(
        "INSERT INTO patient_access_log (accessed_at, username, user_role, what) "
        "VALUES (CURRENT_TIMESTAMP, 'u', 'doctor', 'x')"
    )
    with migrated.app_context():
        flask_migrate.upgrade()
        with db.engine.begin() as conn:
            assert {"order_events", "patient_access_log"} <= {name.rsplit("_", 2)[0] for name in _triggers(conn)}
            assert len(_triggers(conn)) == 4
            conn.execute(insert)
        with pytest.raises(DBAPIError, match="append-only"):
            with db.engine.begin() as conn:
                conn.execute(text("DELETE FROM patient_access_log"))
        flask_migrate.downgrade(revision="20e504eb41e2-1")  # below the audit migration
        with db.engine.begin() as conn:
            assert _triggers(conn) == set()
        flask_migrate.upgrade()
        with db.engine.begin() as conn:
            assert len(_triggers(conn)) == 4
        db.engine.dispose()


@pytest.mark.sqlite_only
def test_bulk_generated_benchmark_events_carry_a_valid_chain(tmp_path):
    from bench.common import make_app
    from bench.generate import generate

    url = f"sqlite:///{tmp_path / 'bench.db'}"
    summary = generate(url, orders=150, years=1, seed=5, progress=False)
    bench_app = make_app(url)
    with bench_app.app_context():
        result = verify_chain(db.session)
        assert result.ok, result.problem
        assert result.checked == summary.events
        db.engine.dispose()


@pytest.mark.sqlite_only
def test_pages_that_show_a_patients_orders_log_who_looked(app, client, auth, make_order):
    order = make_order("scheduled")
    user = auth.login("radiologist")
    for path in (f"/patients/{order.patient_id}?tab=imaging", f"/visits/{order.visit_id}",
                 f"/imaging/orders/{order.id}"):
        assert client.get(path).status_code == 200, path
    assert client.get(f"/patients/{order.patient_id}").status_code == 200  # overview: visits and diagnoses
    with app.app_context():
        rows = db.session.scalars(select(PatientAccessLog).order_by(PatientAccessLog.id)).all()
        assert [(r.user_id, r.patient_ids, r.user_role) for r in rows] == [
            (user.id, {order.patient_id}, "radiologist")] * 4
    assert [r.what.split(" ")[0] for r in rows] == ["imaging", "orders", "order", "patient"]
    assert rows[2].what == f"order {order.accession_number}"
    assert rows[0].request_path == f"GET /patients/{order.patient_id}?tab=imaging"
