"""The access log's schema (one row per read, a child row per patient shown): the migration
moves existing rows over and back, and ``audit access`` finds list and search reads too."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import flask_migrate
import pytest
import sqlalchemy as sa

from tests.access_log import clinic
from webapp import create_app
from webapp.audit import record_read
from webapp.config import TestConfig
from webapp.extensions import db, writing

BEFORE = "3b8e41c7d2a9"  # the revision before the child table


class Someone:
    id = None
    username = "auditor-test"
    role = "admin"


def _old_rows():
    return sa.table(
        "patient_access_log", sa.column("id", sa.Integer()), sa.column("accessed_at", sa.DateTime(timezone=True)),
        sa.column("username", sa.String()), sa.column("user_role", sa.String()), sa.column("patient_id", sa.Uuid()),
        sa.column("what", sa.String()),
    )


def test_migration_moves_patients_to_the_child_table_and_back(scratch_database):
    p1, p2, p3 = sorted(uuid.uuid4() for _ in range(3))
    app = create_app(TestConfig(scratch_database()))
    old = _old_rows()
    child = sa.table("patient_access_log_patients", sa.column("access_id", sa.Integer()),
                     sa.column("patient_id", sa.Uuid()))
    with app.app_context():
        flask_migrate.upgrade(revision=BEFORE)
        with db.engine.begin() as conn:
            for patient, what in ((p1, "imaging history"), (p2, "order ACC-2026-00001")):
                conn.execute(old.insert().values(accessed_at=datetime.now(UTC), username="u", user_role="doctor",
                                                 patient_id=patient, what=what))
        flask_migrate.upgrade()
        with db.engine.begin() as conn:
            assert set(conn.execute(sa.select(child.c.access_id, child.c.patient_id)).all()) == {(1, p1), (2, p2)}
            columns = {c["name"] for c in sa.inspect(conn).get_columns("patient_access_log")}
            assert "patient_id" not in columns and "search" in columns
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):  # the new table is guarded too
            with db.engine.begin() as conn:
                conn.execute(sa.text("DELETE FROM patient_access_log_patients"))
        with writing():
            record_read(Someone(), "order list", [p3, p1])  # outside a request: written at once
            record_read(Someone(), "order list", [])
            db.session.commit()

        flask_migrate.downgrade(revision=BEFORE)
        with db.engine.begin() as conn:
            rows = conn.execute(sa.select(old.c.id, old.c.patient_id, old.c.what).order_by(old.c.id)).all()
        # The two-patient read becomes one row per patient; the one that named nobody keeps NULL.
        assert [(r.patient_id, r.what) for r in rows] == [
            (p1, "imaging history"), (p2, "order ACC-2026-00001"), (p1, "order list"), (None, "order list"),
            (p3, "order list"),
        ]
        flask_migrate.upgrade()
        with db.engine.begin() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(child)).scalar() == 4
        db.engine.dispose()


def test_audit_access_lists_the_searches_and_lists_that_showed_a_patient(
        app, client, auth, runner, make_patient, make_visit, make_order):
    town = clinic(make_patient, make_visit, make_order)
    user = auth.login("scheduler")
    for path in ("/imaging/orders?q=Lindqvist", f"/imaging/orders/{town.orders[town.anna.id][0].id}",
                 "/patients?q=Okafor", "/dashboard"):
        assert client.get(path).status_code == 200
    result = runner.invoke(args=["audit", "access", town.anna.mrn])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[-1] == f"3 reads of patient {town.anna.id} shown (newest first)."
    dashboard, order, search = lines[:3]
    assert f"{user.username} (scheduler) | dashboard" in dashboard and "3 patients shown" in dashboard
    assert f"| order {town.orders[town.anna.id][0].accession_number} |" in order and order.endswith("this patient only")
    assert "| order list | search 'Lindqvist' | GET /imaging/orders?q=Lindqvist |" in search
    assert search.endswith("2 patients shown")

    by_id = runner.invoke(args=["audit", "access", str(town.okafor.id), "--limit", "1"])
    assert by_id.exit_code == 0 and "| dashboard |" in by_id.output and "1 reads" in by_id.output
    unknown = runner.invoke(args=["audit", "access", "MRN-NOBODY"])
    assert unknown.exit_code == 1 and "No patient with id or MRN 'MRN-NOBODY'" in unknown.output
