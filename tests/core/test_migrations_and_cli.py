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
from sqlalchemy import Column, MetaData, Table, create_engine, func, inspect, select, text
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
from webapp.visits.models import Visit

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


def _insert(model, **values) -> None:
    """Write one row on an older schema: only the columns that schema has (today's models carry
    columns later migrations add, so the ORM cannot write there)."""
    table = model.__table__
    connection = db.session.connection()
    present = {column["name"] for column in inspect(connection).get_columns(table.name)}
    slim = Table(table.name, MetaData(), *(Column(c.name, c.type, primary_key=c.primary_key)
                                           for c in table.columns if c.name in present))
    connection.execute(slim.insert().values(**{k: v for k, v in values.items() if k in present}))


def _old_order(number: int, doctor_id, patient_id, visit_id, modality: str, body_part: str,
               status: str = "ordered", priority: str = "routine") -> None:
    now = datetime.now(UTC)
    _insert(ImagingOrder, id=uuid.uuid4(), accession_number=f"ACC-2001-{number:05d}",
            order_number=f"ORD-2001-{number:05d}", patient_id=patient_id, visit_id=visit_id, ordered_by=doctor_id,
            modality=modality, body_part=body_part, clinical_indication="Cough", status=status, priority=priority,
            ordered_date=now, study_instance_uid=f"2.25.{uuid.uuid4().int}", created_at=now, updated_at=now,
            version=1)


def test_status_counts_migration_counts_the_orders_already_there(empty_database):
    from webapp.cli import create_user
    from webapp.imaging import services

    app = create_app(TestConfig(empty_database))
    with app.app_context():
        upgrade(revision=BEFORE_STATUS_COUNTS)
        with writing():
            # Yesterday's rows on yesterday's schema, written with its columns only.
            for code, name, _, dicom in MODALITIES[:2]:  # XRAY, CT
                _insert(ImagingModality, code=code, name=name, dicom_modality=dicom, is_active=True, sort_order=0)
            for code, name in (("CHEST", "Chest"), ("HEAD", "Head")):
                _insert(BodyPart, code=code, name=name, modalities=["XRAY", "CT"], is_paired=False, sort_order=0)
            doctor_id, patient_id, visit_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
            now = datetime.now(UTC)
            _insert(User, id=doctor_id, username="doctor-migrate", full_name="", password_hash="x", role="doctor",
                    is_enabled=True, session_generation=0, created_at=now)
            _insert(Patient, id=patient_id, mrn="MRN-MIGRATE", first_name="Ada", last_name="Byron", sex="female",
                    date_of_birth=date(1990, 1, 2), created_at=now)
            _insert(Visit, id=visit_id, patient_id=patient_id, reason="Cough", visit_date=now, created_at=now)
            _old_order(1, doctor_id, patient_id, visit_id, "XRAY", "CHEST")
            _old_order(2, doctor_id, patient_id, visit_id, "CT", "HEAD", status="cancelled", priority="stat")
            db.session.commit()
        db.session.remove()

        upgrade()
        with writing():
            expected = {("ordered", "XRAY", "routine"): 1, ("cancelled", "CT", "stat"): 1}
            assert stored_counts(db.session.connection()) == expected
            load_reference_data()
            doctor = create_user("doctor-today", "doctor", "password-123")
            services.create_order(doctor, modality="XRAY", body_part="CHEST", patient_id=patient_id,
                                  visit_id=visit_id, clinical_indication="Cough")
            db.session.commit()  # and the triggers count from here on
            assert stored_counts(db.session.connection()) == expected | {("ordered", "XRAY", "routine"): 2}
        db.session.remove()

        downgrade(revision=BEFORE_STATUS_COUNTS)
        with db.engine.connect() as connection:
            assert not inspect(connection).has_table("order_status_counts")
        with writing():  # orders are still written without the table or its triggers
            _old_order(4, doctor_id, patient_id, visit_id, "XRAY", "CHEST")
            db.session.commit()
            assert db.session.scalar(select(func.count()).select_from(ImagingOrder)) == 4
        db.session.remove()
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
                     instance=tmp_path)
    assert created.returncode == 0, created.stderr
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
        statuses = set(db.session.scalars(select(ImagingOrder.status)))
        assert statuses == {"ordered", "scheduled", "in_progress", "completed", "reported", "cancelled"}
        assert 40 <= db.session.scalar(select(func.count()).select_from(ImagingOrder)) <= 80
        # every seed modality has body parts and procedures
        for code, *_ in MODALITIES:
            assert any(code in part.modalities for part in db.session.scalars(select(BodyPart)))
            assert db.session.scalar(select(func.count()).select_from(Procedure).where(Procedure.modality == code))
        db.engine.dispose()
