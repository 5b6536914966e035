"""Migrations build the schema the models describe; the CLI of the CONTRACT works."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from tests.services import postgres_available, require, test_database_url
from webapp import create_app
from webapp.config import TestConfig
from webapp.extensions import db
from webapp.imaging.models import BodyPart, ImagingModality, ImagingOrder, Procedure
from webapp.imaging.reference import MODALITIES
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
        assert db.session.scalar(select(func.count()).select_from(Patient)) == 20
        statuses = set(db.session.scalars(select(ImagingOrder.status)))
        assert statuses == {"ordered", "scheduled", "in_progress", "completed", "reported", "cancelled"}
        assert 40 <= db.session.scalar(select(func.count()).select_from(ImagingOrder)) <= 80
        # every seed modality has body parts and procedures
        for code, *_ in MODALITIES:
            assert any(code in part.modalities for part in db.session.scalars(select(BodyPart)))
            assert db.session.scalar(select(func.count()).select_from(Procedure).where(Procedure.modality == code))
        db.engine.dispose()
