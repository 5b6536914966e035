"""A PostgreSQL that stops answering without closing the connection, or that makes a statement
wait too long: the app answers 503 within a few seconds instead of hanging for the whole stall."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.engine import make_url

from tests.conftest import _empty_all_tables
from tests.hardening.tcp_proxy import TcpProxy
from tests.hardening.test_faults import _order_body, _seed_people, _sign_in
from webapp import create_app
from webapp.audit.locking import CHAIN_LOCK_KEY
from webapp.config import TestConfig
from webapp.extensions import db, writing
from webapp.faults import TOO_SLOW
from webapp.imaging.models import ImagingOrder
from webapp.imaging.reference import load_reference_data

BOUND = 15.0  # generous: the configured timeouts are 1-2 s, the machine may be loaded


@pytest.fixture
def stalling_app(postgres_database):
    """An app whose connections go through a proxy the test can stall, with short timeouts."""
    url = make_url(postgres_database)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    app = create_app(TestConfig(
        url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        DATABASE_CONNECT_TIMEOUT=2, DATABASE_STATEMENT_TIMEOUT=1, DATABASE_SOCKET_TIMEOUT=2,
    ))
    with app.app_context(), writing():
        db.create_all()
        _empty_all_tables()
        load_reference_data()
        app.order_fields = _seed_people()
        db.session.commit()
    yield app, proxy
    proxy.resume()
    proxy.close()
    with app.app_context():
        db.engine.dispose()


def _timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def _orders(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(ImagingOrder))


def test_a_stalled_database_answers_503_within_seconds_and_recovers(stalling_app):
    app, proxy = stalling_app
    client, bearer = _sign_in(app)
    assert client.get("/api/v1/imaging/orders", headers=bearer).status_code == 200

    proxy.stall()
    try:
        listed, took = _timed(lambda: client.get("/api/v1/imaging/orders", headers=bearer))
        assert listed.status_code == 503 and took < BOUND, (listed.status_code, took)
        assert listed.headers["Retry-After"]
        page, took = _timed(lambda: client.get("/imaging/orders"))
        assert page.status_code == 503 and took < BOUND, (page.status_code, took)
        created, took = _timed(lambda: client.post("/api/v1/imaging/orders", json=_order_body(app), headers=bearer))
        assert created.status_code == 503 and took < BOUND, (created.status_code, took)
    finally:
        # The stalled connections are dropped (what they carried never reached the server).
        proxy.cut()
        proxy.resume()
        proxy.restore()

    assert client.get("/api/v1/imaging/orders", headers=bearer).status_code == 200
    assert _orders(app) == 0
    again = client.post("/api/v1/imaging/orders", json=_order_body(app), headers=bearer)
    assert again.status_code == 201, again.get_data(as_text=True)


def test_a_commit_the_database_never_answers_gives_503_within_seconds(stalling_app):
    app, proxy = stalling_app
    client, bearer = _sign_in(app)

    def stall_before_commit(_session):
        proxy.stall()

    event.listen(db.session, "before_commit", stall_before_commit)
    try:
        response, took = _timed(lambda: client.post("/api/v1/imaging/orders", json=_order_body(app), headers=bearer))
    finally:
        event.remove(db.session, "before_commit", stall_before_commit)
        proxy.cut()
        proxy.resume()
        proxy.restore()
    assert response.status_code == 503 and took < BOUND, (response.status_code, took)
    assert response.get_json()["detail"] == TOO_SLOW  # not "nothing was changed": it cannot know
    assert _orders(app) == 0
    assert client.post("/api/v1/imaging/orders", json=_order_body(app), headers=bearer).status_code == 201


def test_a_statement_waiting_too_long_for_a_lock_is_cancelled(stalling_app, postgres_database):
    """The server is fine but a lock stays taken (a stuck transaction holds the audit chain)."""
    app, _proxy = stalling_app
    client, bearer = _sign_in(app)
    holder = create_engine(postgres_database)
    release = threading.Event()

    def hold_chain():
        with holder.begin() as conn:
            conn.execute(text(f"SELECT pg_advisory_xact_lock({CHAIN_LOCK_KEY})"))
            held.set()
            release.wait(30)

    held = threading.Event()
    thread = threading.Thread(target=hold_chain, daemon=True)
    thread.start()
    try:
        assert held.wait(10)
        response, took = _timed(lambda: client.post("/api/v1/imaging/orders", json=_order_body(app), headers=bearer))
        assert response.status_code == 503 and took < BOUND, (response.status_code, took)
        assert response.get_json()["detail"] == TOO_SLOW
    finally:
        release.set()
        thread.join(10)
        holder.dispose()
    assert _orders(app) == 0
    assert client.post("/api/v1/imaging/orders", json=_order_body(app), headers=bearer).status_code == 201


def test_a_frozen_writer_holding_the_chain_lock_is_ended_and_writes_go_on(stalling_app):
    """Issue 26, item 4: a worker frozen while it holds the audit chain's lock, idle in its
    transaction, made every other write answer 503 for as long as it stayed frozen. PostgreSQL
    now ends such a session after DATABASE_IDLE_IN_TRANSACTION_TIMEOUT (its locks go with it),
    and the writers waiting behind it go on."""
    app, _proxy = stalling_app
    client, bearer = _sign_in(app)
    release, held = threading.Event(), threading.Event()
    ended = []

    def frozen_writer():
        # An order write of the app's own (its session takes the chain's lock the way every
        # order write does), frozen mid-transaction.
        from webapp.audit.locking import lock_order_writes

        with app.app_context():
            lock_order_writes(db.session)
            held.set()
            release.wait(30)
            try:
                db.session.execute(text("SELECT 1"))
            except Exception as error:  # the server ended the session
                ended.append(type(error).__name__)
            finally:
                db.session.rollback()

    thread = threading.Thread(target=frozen_writer, daemon=True)
    thread.start()
    try:
        assert held.wait(10)
        statuses = [client.post("/api/v1/imaging/orders", json=_order_body(app), headers=bearer).status_code
                    for _ in range(3)]
    finally:
        release.set()
        thread.join(15)
    assert statuses == [201, 201, 201], statuses
    assert ended, "the frozen session should have been ended by the server"
    assert _orders(app) == 3


def test_one_bound_for_the_whole_request(stalling_app):
    """Issue 26, item 5: the socket timeout bounded each wait, and a request that waited twice
    (a ping, then its statement) took twice as long. The bound is now the request's."""
    app, proxy = stalling_app
    client, bearer = _sign_in(app)
    assert client.get("/api/v1/imaging/orders", headers=bearer).status_code == 200
    proxy.stall()
    try:
        listed, took = _timed(lambda: client.get("/api/v1/imaging/orders", headers=bearer))
    finally:
        proxy.cut()
        proxy.resume()
        proxy.restore()
    socket_timeout = app.config["DATABASE_SOCKET_TIMEOUT"]
    assert listed.status_code == 503
    assert took < socket_timeout + 1.5, (took, socket_timeout)
