"""Concurrent writers on PostgreSQL: one lock order on every write path, so no deadlocks.

A create takes the audit chain's lock, the year's counter and the ``order_status_counts`` row
of its key; a status change or an edit locks its order and moves it between counts rows. Taken
in different orders, two such transactions deadlock (PostgreSQL kills one: it used to answer
503). Every order-writing transaction now takes the chain's lock first, and a transaction that
still loses a deadlock (or a serialization failure) is run again.
"""

from __future__ import annotations

import itertools
import queue
import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from tests.conftest import with_schema
from webapp.extensions import db

RETRIED_STATES = {"40P01", "40001"}


@pytest.fixture(scope="module")
def database_url(postgres_database):
    """These tests are about PostgreSQL's locks: PostgreSQL only (SQLite has one writer at a time)."""
    return with_schema(postgres_database)


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}  # the note form is posted without a page's token


@pytest.fixture
def lock_failures(app):
    """SQLSTATEs of deadlocks and serialization failures the engine met (retried or not)."""
    seen: list[str] = []

    def on_error(context):
        state = getattr(context.original_exception, "sqlstate", None)
        if state in RETRIED_STATES:
            seen.append(state)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "handle_error", on_error)
    yield seen
    event.remove(engine, "handle_error", on_error)


def _token(client, user) -> dict:
    response = client.post("/api/v1/auth/token", json={"username": user.username, "password": "password-123"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def _ct_order(visit) -> dict:
    return {"patient_id": str(visit.patient_id), "visit_id": str(visit.id), "modality": "CT",
            "body_part": "HEAD", "procedure_code": "70450", "clinical_indication": "Headache",
            "priority": "routine"}


def test_mixed_create_schedule_edit_note_load_has_no_deadlock(app, make_user, make_visit, make_order, lock_failures):
    doctor, scheduler = make_user("doctor"), make_user("scheduler")
    visits = [make_visit() for _ in range(3)]
    existing = [make_order(visit=visits[n % 3], doctor=doctor, modality="CT", body_part="HEAD",
                           procedure_code="70450") for n in range(12)]
    setup = app.test_client()
    doctor_auth, scheduler_auth = _token(setup, doctor), _token(setup, scheduler)

    to_schedule: queue.Queue = queue.Queue()
    for order in existing[:6]:
        to_schedule.put(str(order.id))
    editable = [str(order.id) for order in existing]
    statuses: list[int] = []
    bodies: list[str] = []
    stop = threading.Event()
    counter = itertools.count()

    def record(response) -> None:
        statuses.append(response.status_code)
        if response.status_code >= 500:
            bodies.append(response.get_data(as_text=True)[:300])

    def creator(client) -> None:
        while not stop.is_set():
            response = client.post("/api/v1/imaging/orders", json=_ct_order(visits[next(counter) % 3]),
                                   headers=doctor_auth)
            record(response)
            if response.status_code == 201:
                to_schedule.put(response.get_json()["id"])

    def scheduler_loop(client) -> None:
        while not stop.is_set():
            try:
                order_id = to_schedule.get(timeout=0.2)
            except queue.Empty:
                continue
            when = (datetime.now(UTC) + timedelta(days=1, minutes=next(counter))).isoformat()
            record(client.patch(f"/api/v1/imaging/orders/{order_id}/status",
                                json={"status": "scheduled", "scheduled_date": when}, headers=scheduler_auth))

    def editor(client) -> None:
        rng = random.Random(next(counter))
        while not stop.is_set():
            order_id = rng.choice(editable)
            record(client.put(f"/api/v1/imaging/orders/{order_id}",
                              json={"priority": rng.choice(["routine", "urgent"]),
                                    "clinical_indication": f"Headache, day {rng.randint(1, 9)}"},
                              headers=doctor_auth | {"If-Match": "*"}))  # overwrite: PUT needs If-Match

    def noter(client) -> None:
        rng = random.Random(next(counter))
        with client.session_transaction() as session:
            session["_user_id"] = doctor.get_id()
            session["_fresh"] = True
        while not stop.is_set():
            order_id = rng.choice(editable)
            current = client.get(f"/api/v1/imaging/orders/{order_id}", headers=doctor_auth).get_json()
            response = client.post(f"/imaging/orders/{order_id}/actions/note",
                                   data={"note-version": current["version"], "note-note": "Called the ward"})
            record(response)

    workers = [creator] * 3 + [scheduler_loop] * 3 + [editor] * 2 + [noter] * 2
    threads = [threading.Thread(target=work, args=(app.test_client(),), daemon=True) for work in workers]
    for thread in threads:
        thread.start()
    time.sleep(8)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)

    assert lock_failures == [], f"{len(lock_failures)} deadlocks / serialization failures"
    assert bodies == [], bodies[:3]
    # 409: a note written on a version another writer had just replaced (a stale form), not a lock failure.
    assert set(statuses) <= {200, 201, 303, 409}, sorted(set(statuses))
    assert statuses.count(201) >= 5 and len(statuses) >= 30, (statuses.count(201), len(statuses))

    from webapp.imaging.models import ImagingOrder
    from webapp.imaging.status_counts import actual_counts, stored_counts

    with app.app_context():
        connection = db.session.connection()
        assert stored_counts(connection) == actual_counts(connection)
        created = db.session.scalar(select(func.count()).select_from(ImagingOrder))
        assert created == len(existing) + statuses.count(201)


# ---------------------------------------------------------------------------- the retry


_RAISE_DEADLOCK = """
CREATE OR REPLACE FUNCTION test_raise_deadlock(how_many integer)
RETURNS TABLE (head_hash varchar, next_id bigint) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION 'deadlock detected (forced by the test)' USING ERRCODE = '40P01';
END
$$
"""


@pytest.fixture
def forced_deadlocks(app):
    """forced_deadlocks(n): the next ``n`` appends to the audit chain fail with a real 40P01 from
    PostgreSQL, in the middle of the transaction (after the counter and the order's row lock)."""
    from sqlalchemy import text

    with app.app_context():
        db.session.execute(text(_RAISE_DEADLOCK))
        db.session.commit()
        engine = db.engine
    state = {"left": 0, "fired": 0}

    def sabotage(_conn, _cursor, statement, parameters, _context, _executemany):
        if state["left"] and "order_events_chain_next(" in statement:
            state["left"] -= 1
            state["fired"] += 1
            statement = statement.replace("order_events_chain_next(", "test_raise_deadlock(")
        return statement, parameters

    event.listen(engine, "before_cursor_execute", sabotage, retval=True)

    def arm(times: int) -> dict:
        state["left"] = times
        return state

    yield arm
    event.remove(engine, "before_cursor_execute", sabotage)


@pytest.fixture
def published(monkeypatch):
    """The signals published after commits (instead of Redis)."""
    from webapp.events import publishing

    sent: list[list[dict]] = []
    monkeypatch.setattr(publishing, "publish_signals", lambda signals, *_type: sent.append(list(signals)) or len(signals))
    return sent


def test_a_deadlocked_create_runs_again_and_succeeds_once(app, make_user, make_visit, forced_deadlocks, published):
    from webapp.imaging.models import ImagingOrder, OrderCounter, OrderEvent

    doctor, visit = make_user("doctor"), make_visit()
    client = app.test_client()
    headers = _token(client, doctor) | {"Idempotency-Key": "retry-key-1"}
    state = forced_deadlocks(1)

    response = client.post("/api/v1/imaging/orders", json=_ct_order(visit), headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert state["fired"] == 1
    order = response.get_json()
    assert order["accession_number"].endswith("-00001")  # the lost attempt's number was rolled back
    assert [[signal["id"] for signal in batch] for batch in published] == [[order["id"]]]

    again = client.post("/api/v1/imaging/orders", json=_ct_order(visit), headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == order["id"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ImagingOrder)) == 1
        assert db.session.scalar(select(func.count()).select_from(OrderEvent)) == 1
        assert db.session.scalar(select(func.max(OrderCounter.last_value))) == 1
    assert len(published) == 1


def test_a_deadlocked_status_change_runs_again(app, make_user, make_order, forced_deadlocks, published):
    order = make_order("ordered", modality="CT", body_part="HEAD", procedure_code="70450")
    published.clear()  # the order's creation
    client = app.test_client()
    headers = _token(client, make_user("scheduler")) | {"If-Match": f'"{order.version}"'}
    state = forced_deadlocks(2)
    when = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    response = client.patch(f"/api/v1/imaging/orders/{order.id}/status",
                            json={"status": "scheduled", "scheduled_date": when}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert state["fired"] == 2
    assert response.get_json()["version"] == order.version + 1
    assert [[(s["status"], s["version"]) for s in batch] for batch in published] == [[("scheduled", order.version + 1)]]


def test_a_conflict_that_never_clears_says_so_and_writes_nothing(app, make_user, make_visit, forced_deadlocks,
                                                                 published):
    from webapp.imaging.models import ImagingOrder

    client = app.test_client()
    headers = _token(client, make_user("doctor"))
    state = forced_deadlocks(100)
    response = client.post("/api/v1/imaging/orders", json=_ct_order(make_visit()), headers=headers)
    assert response.status_code == 503
    assert state["fired"] == app.config["DATABASE_RETRY_ATTEMPTS"] == 4
    detail = response.get_json()["detail"]
    assert "colliding" in detail and "cannot be reached" not in detail
    assert published == []
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ImagingOrder)) == 0
