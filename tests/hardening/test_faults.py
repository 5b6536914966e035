"""Faults: the database goes away mid-flight and comes back; the app answers 503 and recovers."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import date

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url

from tests.conftest import _empty_all_tables
from tests.hardening.tcp_proxy import TcpProxy
from webapp import create_app
from webapp.auth.models import User
from webapp.cli import create_user
from webapp.config import TestConfig
from webapp.extensions import db, writing
from webapp.imaging import services
from webapp.imaging.models import ImagingOrder, OrderCounter, OrderEvent
from webapp.imaging.reference import load_reference_data
from webapp.patients.models import Patient
from webapp.visits.models import Visit


def _seed_people() -> dict:
    doctor = create_user(f"doc-{uuid.uuid4().hex[:6]}", "doctor", "password-123")
    patient = Patient(mrn=f"MRN{uuid.uuid4().int % 10**8:08d}", first_name="Ann", last_name="Lee",
                      date_of_birth=date(1970, 1, 1), sex="female")
    db.session.add(patient)
    db.session.flush()
    visit = Visit(patient_id=patient.id, reason="Cough", visit_date=services.utcnow())
    db.session.add(visit)
    db.session.flush()
    return {"doctor": str(doctor.id), "patient_id": str(patient.id), "visit_id": str(visit.id),
            "modality": "XRAY", "body_part": "CHEST", "clinical_indication": "Cough"}


@pytest.fixture
def proxied_app(postgres_database):
    """An app whose PostgreSQL connections all go through a proxy the test can cut."""
    url = make_url(postgres_database)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    app = create_app(TestConfig(
        url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, "connect_args": {"connect_timeout": 3}},
    ))
    with app.app_context(), writing():
        db.create_all()
        _empty_all_tables()
        load_reference_data()
        app.order_fields = _seed_people()
        db.session.commit()
    yield app, proxy
    proxy.close()
    with app.app_context():
        db.engine.dispose()


def _assert_unavailable(response, *, api: bool) -> None:
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    body = response.get_data(as_text=True)
    assert "Traceback" not in body and "psycopg" not in body and "sqlalchemy" not in body.lower()
    if api:
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["status"] == 503
    else:
        assert response.mimetype == "text/html"
        assert "temporarily unavailable" in body


def _sign_in(app):
    """A browser session and an API token of the seeded doctor, taken while the database is up."""
    client = app.test_client()
    doctor_id = app.order_fields["doctor"]
    with app.app_context():
        doctor = db.session.get(User, uuid.UUID(doctor_id))
        with client.session_transaction() as session:
            session["_user_id"] = doctor.get_id()
        username = doctor.username
    token = client.post("/api/v1/auth/token", json={"username": username, "password": "password-123"})
    assert token.status_code == 200, token.get_data(as_text=True)
    return client, {"Authorization": f"Bearer {token.get_json()['access_token']}"}


def _order_body(app) -> dict:
    return {k: v for k, v in app.order_fields.items() if k != "doctor"}


def test_database_outage_answers_503_and_recovers_by_itself(proxied_app):
    app, proxy = proxied_app
    client, bearer = _sign_in(app)
    assert client.get("/imaging/orders").status_code == 200
    assert client.get("/api/v1/imaging/orders", headers=bearer).status_code == 200

    proxy.cut()
    _assert_unavailable(client.get("/imaging/orders"), api=False)
    _assert_unavailable(client.get("/dashboard"), api=False)
    _assert_unavailable(client.get("/api/v1/imaging/orders", headers=bearer), api=True)
    _assert_unavailable(client.post("/api/v1/imaging/orders", json=_order_body(app), headers=bearer), api=True)
    _assert_unavailable(client.post("/api/v1/auth/token", json={"username": "x", "password": "y"}), api=True)

    proxy.restore()
    # The first request after the outage already works: pre-ping replaced the dead connections.
    assert client.get("/imaging/orders").status_code == 200
    created = client.post("/api/v1/imaging/orders", json=_order_body(app), headers=bearer)
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.get_json()["accession_number"].endswith("-00001")


def test_a_commit_the_database_drops_leaves_nothing_behind(proxied_app):
    app, proxy = proxied_app
    client, bearer = _sign_in(app)

    def cut_before_commit(_session):
        proxy.cut()

    event.listen(db.session, "before_commit", cut_before_commit)
    try:
        response = client.post("/api/v1/imaging/orders", json=_order_body(app), headers=bearer)
    finally:
        event.remove(db.session, "before_commit", cut_before_commit)
    _assert_unavailable(response, api=True)

    proxy.restore()
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ImagingOrder)) == 0
        assert db.session.scalar(select(func.count()).select_from(OrderEvent)) == 0
        assert (db.session.scalar(select(func.max(OrderCounter.last_value))) or 0) == 0
    created = client.post("/api/v1/imaging/orders", json=_order_body(app), headers=bearer)
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.get_json()["accession_number"].endswith("-00001")  # the lost attempt used no number


@pytest.mark.sqlite_only
def test_sqlite_failure_answers_503_and_recovers(app, client, auth):
    auth.login("scheduler")

    def fail(*_args, **_kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", fail)
    try:
        _assert_unavailable(client.get("/imaging/orders"), api=False)
        _assert_unavailable(client.get("/api/v1/imaging/orders"), api=True)
    finally:
        event.remove(engine, "before_cursor_execute", fail)
    assert client.get("/imaging/orders").status_code == 200
    assert client.get("/api/v1/imaging/orders").get_json()["items"] == []
