"""Migrations build the schema the models describe; the CLI of the CONTRACT works."""

import os
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url

from tests.services import postgres_available, require, test_database_url
from webapp import create_app
from webapp.auth.models import User
from webapp.config import TestConfig
from webapp.extensions import db, writing
from webapp.imaging.models import BodyPart, ImagingModality, ImagingOrder, Procedure
from webapp.imaging.reference import MODALITIES, load_reference_data
from webapp.imaging.status_counts import stored_counts
from webapp.patients.models import Patient

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    require(postgres_available(), "PostgreSQL (TEST_DATABASE_URL)")
    admin_url = make_url(test_database_url())
    name = f"imaging_migrate_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield admin_url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_migrations_apply_to_an_empty_database_and_match_the_models(empty_database):
    app = create_app(TestConfig(empty_database))
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, db.metadata)
        assert differences == []
        db.engine.dispose()


BEFORE_STATUS_COUNTS = "6277541d55fe"  # the revision before order_status_counts (bc0b8ced1fd7)


def test_status_counts_migration_counts_the_orders_already_there(empty_database):
    """Orders written, then the schema taken back before order_status_counts (bc0b8ced1fd7) and
    brought forward again: the migration counts the orders already there, and the triggers count
    from then on. The orders are written with today's models at the head (the models of today do
    not fit yesterday's schema once later migrations add columns); going down keeps the rows."""
    from webapp.audit.chain import install_chain_function
    from webapp.cli import create_user
    from webapp.imaging import services
    from webapp.visits.models import Visit

    app = create_app(TestConfig(empty_database))
    with app.app_context():
        upgrade()
        with writing():
            install_chain_function(db.session.connection())
            load_reference_data()
            doctor = create_user("doctor-migrate", "doctor", "password-123")
            patient = Patient(mrn="MRN-MIGRATE", first_name="Ada", last_name="Byron", sex="female",
                              date_of_birth=date(1990, 1, 2))
            db.session.add(patient)
            db.session.flush()
            visit = Visit(patient_id=patient.id, reason="Cough", visit_date=datetime.now(UTC))
            db.session.add(visit)
            db.session.flush()
            order = dict(patient_id=patient.id, visit_id=visit.id, clinical_indication="Cough")
            services.create_order(doctor, modality="XRAY", body_part="CHEST", **order)
            cancelled = services.create_order(doctor, modality="CT", body_part="HEAD", priority="stat", **order)
            services.cancel_order(doctor, cancelled, reason="Duplicate")
            doctor_id = doctor.id
            db.session.commit()
        db.session.remove()
        downgrade(revision=BEFORE_STATUS_COUNTS)
        with db.engine.connect() as connection:
            assert not inspect(connection).has_table("order_status_counts")

        upgrade()
        with writing():
            expected = {("ordered", "XRAY", "routine"): 1, ("cancelled", "CT", "stat"): 1}
            assert stored_counts(db.session.connection()) == expected
            services.create_order(db.session.get(User, doctor_id), modality="XRAY", body_part="CHEST", **order)
            db.session.commit()  # and the triggers count from here on
            assert stored_counts(db.session.connection()) == expected | {("ordered", "XRAY", "routine"): 2}
        db.session.remove()

        downgrade(revision=BEFORE_STATUS_COUNTS)
        with db.engine.connect() as connection:
            assert not inspect(connection).has_table("order_status_counts")
        with db.engine.begin() as connection:  # orders still change without the table or its triggers
            changed = connection.execute(text("UPDATE imaging_orders SET status = 'scheduled' WHERE status = 'ordered'"))
            assert changed.rowcount == 2
            assert connection.scalar(text("SELECT count(*) FROM imaging_orders")) == 3
        db.engine.dispose()


def _flask(database_url, *args, instance):
    env = os.environ | {"DATABASE_URL": database_url, "INSTANCE_PATH": str(instance), "FLASK_APP": "wsgi"}
    return subprocess.run([sys.executable, "-m", "flask", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.sqlite_only
def test_command_line_set_up(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert _flask(url, "db", "upgrade", instance=tmp_path).returncode == 0
    first = _flask(url, "seed", instance=tmp_path)
    again = _flask(url, "seed", instance=tmp_path)
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    demo = _flask(url, "seed", "--demo", instance=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert "doctor-demo-2026" in demo.stdout
    created = _flask(url, "users", "create", "dr.who", "--role", "doctor", "--password", "tardis-1963",
                     "--provider-id", "1234567893", instance=tmp_path)
    assert created.returncode == 0, created.stderr
    same_npi = _flask(url, "users", "create", "dr.two", "--role", "doctor", "--password", "tardis-1963",
                      "--provider-id", "1234567893", instance=tmp_path)
    assert same_npi.returncode != 0 and "provider id" in same_npi.stderr
    duplicate = _flask(url, "users", "create", "dr.who", "--role", "doctor", "--password", "tardis-1963",
                       instance=tmp_path)
    assert duplicate.returncode != 0 and "exists already" in duplicate.stderr
    bad_role = _flask(url, "users", "create", "x", "--role", "janitor", "--password", "long-enough",
                      instance=tmp_path)
    assert bad_role.returncode != 0

    app = create_app(TestConfig(url))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ImagingModality)) == len(MODALITIES)
        # 20 demo patients, one per kind of safety alert and one waiting (webapp.safety.demo).
        from webapp.safety.demo import CASES

        assert db.session.scalar(select(func.count()).select_from(Patient)) == 20 + len(CASES) + 1
        assert db.session.scalar(select(User.provider_id).where(User.username == "dr.who")) == "1234567893"
        statuses = set(db.session.scalars(select(ImagingOrder.status)))
        assert statuses == {"ordered", "scheduled", "in_progress", "completed", "reported", "cancelled"}
        assert 40 <= db.session.scalar(select(func.count()).select_from(ImagingOrder)) <= 80
        # every seed modality has body parts and procedures
        for code, *_ in MODALITIES:
            assert any(code in part.modalities for part in db.session.scalars(select(BodyPart)))
            assert db.session.scalar(select(func.count()).select_from(Procedure).where(Procedure.modality == code))
        # The demo's critical findings are on exams that can show them: a pneumothorax and a
        # pulmonary embolus on chest X-ray or CT, CPT 71010-71555 being the chest range
        # (issue 26 #18: the pneumothorax was on an MRI knee).
        from webapp.reporting.models import CriticalResult

        findings = {note: (order.modality, order.procedure_code[:2]) for note, order in db.session.execute(
            select(CriticalResult.note, ImagingOrder).join(ImagingOrder, ImagingOrder.id == CriticalResult.order_id))}
        assert findings["Right apical pneumothorax"] in {("XRAY", "71"), ("CT", "71")}, findings
        assert findings["Segmental pulmonary embolus"] == ("CT", "71"), findings
        db.engine.dispose()
