"""Fixtures: an app per test on SQLite and on PostgreSQL, clients, and factories.

Every test that uses ``app`` runs once per database backend (``[sqlite]`` and
``[postgresql]``); mark a test ``@pytest.mark.sqlite_only`` when the backend does not matter.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.services import CHROMIUM, chromium_available, postgres_available, require, test_database_url
from webapp import create_app
from webapp.config import TestConfig
from webapp.extensions import db, writing

os.environ.setdefault("INSTANCE_PATH", os.path.join(os.path.dirname(__file__), "..", "instance", "test"))


def pytest_addoption(parser):
    parser.addoption(
        "--clinic-clock", metavar="HH:MM", default=None,
        help="run the in-process tests with the clock travelled to today's HH:MM clinic time "
             "(APP_TIMEZONE, else UTC), ticking: e.g. 23:30 or 00:10 shows what depends on the time of day")


def _clinic_instant(hhmm: str, zone_name: str) -> datetime:
    """Today's ``hhmm`` in the clinic's time zone (today as the clinic's calendar has it now)."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(zone_name)
    hour, minute = (int(part) for part in hhmm.split(":"))
    today = datetime.now(zone).date()
    return datetime(today.year, today.month, today.day, hour, minute, tzinfo=zone)


@pytest.fixture(scope="session", autouse=True)
def clinic_clock(request):
    """``--clinic-clock HH:MM``: the whole session runs from that time of day (the clock ticks on)."""
    hhmm = request.config.getoption("--clinic-clock")
    if not hhmm:
        yield None
        return
    import time_machine

    with time_machine.travel(_clinic_instant(hhmm, os.environ.get("APP_TIMEZONE") or "UTC"), tick=True) as traveller:
        yield traveller


@pytest.fixture
def midday(app):
    """Today at 12:00 clinic time, the clock ticking on from there: for tests that book "in an hour"
    or expect "today" (they failed between 23:00 and midnight, issue 26 #19). Ask for it before
    the fixtures that make the test's records (``pytestmark = pytest.mark.usefixtures("midday")``)."""
    import time_machine

    with time_machine.travel(_clinic_instant("12:00", app.config.get("APP_TIMEZONE") or "UTC"), tick=True):
        yield


BROWSER_FIXTURES = {"browser", "page", "new_page", "playwright_instance", "chromium"}


@pytest.fixture(scope="session")
def playwright_instance():
    """The session's one Playwright (sync API): a second ``sync_playwright()`` in the same thread
    while this one runs fails ("using Playwright Sync API inside the asyncio loop"), so every
    browser test launches its Chromium from here (``browser`` or ``chromium``)."""
    require(chromium_available(), "Chromium (/usr/bin/chromium)")
    from playwright.sync_api import expect, sync_playwright

    # The machine is shared (2 cores): give assertions room before they fail.
    expect.set_options(timeout=15_000)

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture
def chromium(playwright_instance):
    """A Chromium of the test's own, with its own arguments: ``with chromium(ARGS) as browser:``;
    closed at the end of the block, the test failing or not."""

    @contextmanager
    def launch(args: list[str]):
        browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield browser
        finally:
            browser.close()

    return launch


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (`make test`: `-n 2 --dist loadgroup`) every test that drives Chromium
    runs on one worker, one after the other: two Chromiums on 2 cores make their timings flaky.
    The other worker takes everything else."""
    for item in items:
        if item.get_closest_marker("browser") or BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("browser"))


def pytest_generate_tests(metafunc):
    if "db_backend" in metafunc.fixturenames:
        backends = ["sqlite"] if metafunc.definition.get_closest_marker("sqlite_only") else ["sqlite", "postgresql"]
        metafunc.parametrize("db_backend", backends, scope="session")


# ---------------------------------------------------------------------------- databases


@pytest.fixture(scope="session")
def postgres_database():
    """A PostgreSQL database of this test session's own, dropped at the end."""
    require(postgres_available(), "PostgreSQL (TEST_DATABASE_URL)")
    admin_url = make_url(test_database_url())
    name = f"imaging_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield admin_url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def database_url(db_backend, tmp_path_factory, request):
    if db_backend == "postgresql":
        url = request.getfixturevalue("postgres_database")
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    return with_schema(url)


def with_schema(url: str) -> str:
    """``url`` with the app's tables created; modules that override ``database_url`` (PostgreSQL
    only, say) return ``with_schema(postgres_database)``."""
    app = create_app(TestConfig(url))
    with app.app_context():
        db.create_all()
        db.engine.dispose()
    return url


def _empty_all_tables() -> None:
    from webapp.audit.guards import drop_guards, install_guards

    # The audit tables are append-only by trigger; lift that inside this transaction only.
    connection = db.session.connection()
    drop_guards(connection)
    tables = list(reversed(db.metadata.sorted_tables))
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables)
        db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        # order_status_counts ends empty too, in either order: deleting orders only takes one
        # off rows that are still there (webapp.imaging.status_counts), it never adds any.
        for table in tables:
            db.session.execute(table.delete())
        db.session.execute(text("DELETE FROM sqlite_sequence")) if db.session.execute(
            text("SELECT name FROM sqlite_master WHERE name='sqlite_sequence'")
        ).first() else None
    install_guards(connection)


@pytest.fixture
def app_config(database_url):
    """Override in a test module to change configuration (return a dict of settings)."""
    return {}


@pytest.fixture
def app(database_url, app_config):
    from webapp.imaging.reference import load_reference_data

    app = create_app(TestConfig(database_url, **app_config))
    with app.app_context(), writing():
        _empty_all_tables()
        load_reference_data()
        db.session.commit()
    yield app
    from webapp.audit.access import close_batch

    close_batch(app)  # the test's queued access rows written now, not into the next test's tables
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def app_ctx(app):
    """An application context for tests that call the service layer directly."""
    with app.app_context(), writing():
        yield
        db.session.rollback()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# ---------------------------------------------------------------------------- factories


def _detach(obj, *relationships):
    db.session.refresh(obj)
    for name in relationships:  # loaded now, usable after detaching
        getattr(obj, name)
    db.session.expunge(obj)
    return obj


@pytest.fixture
def make_user(app):
    """make_user(role="doctor", username=None, password="password-123") -> detached User."""
    from webapp.cli import create_user

    def factory(role: str = "doctor", username: str | None = None, password: str = "password-123", **fields):
        with app.app_context(), writing():
            user = create_user(username or f"{role}-{uuid.uuid4().hex[:8]}", role, password, fields.pop("full_name", ""))
            for key, value in fields.items():
                setattr(user, key, value)
            db.session.commit()
            return _detach(user)

    return factory


@pytest.fixture
def make_patient(app):
    from webapp.patients.models import Patient

    def factory(**fields):
        values = {
            "mrn": f"MRN{uuid.uuid4().int % 10**8:08d}",
            "first_name": "Maria",
            "last_name": "Garcia",
            "date_of_birth": date(1980, 5, 17),
            "sex": "female",
        } | fields
        with app.app_context(), writing():
            patient = Patient(**values)
            db.session.add(patient)
            db.session.commit()
            return _detach(patient)

    return factory


@pytest.fixture
def make_visit(app, make_patient):
    """make_visit(patient=None, diagnoses=[("J18.9", "Pneumonia")], ...) -> detached Visit."""
    from webapp.visits.models import Diagnosis, Visit

    def factory(patient=None, diagnoses=(("J18.9", "Pneumonia, unspecified organism"),), **fields):
        patient = patient or make_patient()
        values = {
            "patient_id": patient.id,
            "reason": "Cough and fever",
            "clinical_notes": "Productive cough for 5 days, crackles right base.",
            "visit_date": datetime.now(UTC),
        } | fields
        with app.app_context(), writing():
            visit = Visit(**values)
            for position, (code, description) in enumerate(diagnoses):
                visit.diagnoses.append(Diagnosis(code=code, description=description, position=position))
            db.session.add(visit)
            db.session.commit()
            return _detach(visit, "diagnoses")

    return factory


STATUS_PATH = ("ordered", "scheduled", "in_progress", "completed", "reported")


def _later_today() -> datetime:
    """A booking time still in today's clinic day (the tablet lists today's bookings): in an
    hour, or now when the day ends sooner (a booking is refused only 15 minutes in the past)."""
    from webapp.db_types import clinic_zone

    now = datetime.now(UTC)
    later = now + timedelta(hours=1)
    if later.astimezone(clinic_zone()).date() == now.astimezone(clinic_zone()).date():
        return later
    return now


@pytest.fixture
def make_station(app):
    """make_station(ae_title, modality, room="Room 1") -> the AE title of a new active station."""
    from webapp.dicom.stations import add_station

    def factory(ae_title: str, modality: str, room: str = "Room 1"):
        with app.app_context(), writing():
            station = add_station(ae_title, modality, room)
            db.session.commit()
            return station.ae_title

    return factory


@pytest.fixture
def make_order(app, make_user, make_visit):
    """make_order(status="ordered", visit=None, **create_fields) -> detached ImagingOrder.

    The order is created and moved to ``status`` through the service layer by users of the
    roles the transition table names, as in the department.
    """
    from webapp.imaging import services

    people: dict[str, object] = {}

    def person(role):
        if role not in people:
            people[role] = make_user(role)
        return people[role]

    def factory(status: str = "ordered", *, visit=None, doctor=None, **fields):
        visit = visit or make_visit()
        values = {
            "modality": "XRAY", "body_part": "CHEST", "procedure_code": "71046",
            "clinical_indication": "Suspected pneumonia", "priority": "routine",
        } | fields
        doctor = doctor or person("doctor")
        # Users are made before the order's transaction: on SQLite a second writer would wait on it.
        staff = {role: person(role) for role in ("scheduler", "technician", "radiologist")} | {"doctor": doctor}
        with app.app_context(), writing():
            from webapp.auth.models import User

            actor = lambda role: db.session.get(User, staff[role].id)  # noqa: E731
            order = services.create_order(actor("doctor"), patient_id=visit.patient_id, visit_id=visit.id, **values)
            if status == "cancelled":
                services.cancel_order(actor("doctor"), order, reason="No longer indicated")
            elif status != "ordered":
                for step in STATUS_PATH[1: STATUS_PATH.index(status) + 1]:
                    if step == "scheduled":
                        services.schedule_order(actor("scheduler"), order, _later_today())
                    elif step == "in_progress":
                        services.start_order(actor("technician"), order)
                    elif step == "completed":
                        services.complete_order(actor("technician"), order, number_of_images=12)
                    elif step == "reported":
                        services.report_order(actor("radiologist"), order, findings="Clear lungs.", impression="Normal.")
            db.session.commit()
            return _detach(order)

    factory.person = person
    return factory


class AuthActions:
    """Sign a test client in as a user without going through the login page."""

    def __init__(self, client, make_user):
        self._client = client
        self._make_user = make_user
        self.user = None

    def login(self, role_or_user="doctor"):
        user = self._make_user(role_or_user) if isinstance(role_or_user, str) else role_or_user
        with self._client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
        self.user = user
        return user

    def logout(self):
        with self._client.session_transaction() as session:
            session.clear()
        self.user = None


@pytest.fixture
def auth(client, make_user):
    return AuthActions(client, make_user)
