"""Idempotency-Key on POST, and concurrent writers (If-Match), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from webapp.api.models import IdempotencyKey
from webapp.extensions import db, writing
from webapp.imaging.models import ImagingOrder

ORDERS = "/api/v1/imaging/orders"


def count_orders(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(ImagingOrder))


@pytest.mark.sqlite_only
def test_same_key_same_body_same_order(app, client, bearer, order_payload):
    headers = bearer("doctor")
    body = order_payload()
    first = client.post(ORDERS, json=body, headers=headers | {"Idempotency-Key": "order-1"})
    again = client.post(ORDERS, json=dict(reversed(body.items())), headers=headers | {"Idempotency-Key": "order-1"})
    assert first.status_code == again.status_code == 201
    assert again.json["id"] == first.json["id"] and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    other_body = client.post(ORDERS, json=body | {"priority": "stat"}, headers=headers | {"Idempotency-Key": "order-1"})
    assert other_body.status_code == 422 and other_body.mimetype == "application/problem+json"
    assert "Idempotency-Key" in other_body.json["errors"]
    assert client.post(ORDERS, json=body, headers=headers | {"Idempotency-Key": "order-2"}).status_code == 201
    assert client.post(ORDERS, json=body, headers=headers).status_code == 201  # no key: a new order each time
    assert count_orders(app) == 3
    # Another user's key is another key.
    assert client.post(ORDERS, json=body, headers=bearer("doctor") | {"Idempotency-Key": "order-1"}).json["id"] != \
        first.json["id"]
    bad = client.post(ORDERS, json=body, headers=headers | {"Idempotency-Key": "x" * 256})
    assert bad.status_code == 422


@pytest.mark.sqlite_only
@pytest.mark.parametrize("collection", ["/api/v1/patients", "/api/v1/visits", ORDERS])
def test_every_create_answers_alike_first_and_on_replay(client, bearer, make_patient, order_payload, collection):
    """Patients, visits and orders are created by one road (api.idempotency.create_once): 201 with
    the new record's Location under its collection; a replay, the same record, marked replayed."""
    bodies = {
        "/api/v1/patients": {"mrn": "MRN-REPLAY", "first_name": "Ana", "last_name": "Lima",
                             "date_of_birth": "1990-02-03", "sex": "female"},
        "/api/v1/visits": {"patient_id": str(make_patient().id), "reason": "Cough"},
        ORDERS: order_payload(),
    }
    headers = bearer("doctor") | {"Idempotency-Key": "create-once"}
    if collection == "/api/v1/patients":
        headers = bearer("scheduler") | {"Idempotency-Key": "create-once"}
    first = client.post(collection, json=bodies[collection], headers=headers)
    again = client.post(collection, json=bodies[collection], headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.headers["Location"] == f"{collection}/{first.json['id']}"
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true" and again.json["id"] == first.json["id"]
    # Every replay names the same Location (CONTRACT: "a replay answers the same headers").
    assert again.headers.get("Location") == first.headers["Location"]
    assert client.get(first.headers["Location"], headers=headers).json["id"] == first.json["id"]


@pytest.mark.sqlite_only
def test_failed_request_does_not_burn_the_key_and_keys_expire(app, client, bearer, order_payload):
    headers = bearer("doctor") | {"Idempotency-Key": "retry-me"}
    body = order_payload()
    assert client.post(ORDERS, json=body | {"modality": "NOPE"}, headers=headers).status_code == 422
    assert client.post(ORDERS, json=body | {"modality": "NOPE"}, headers=headers).status_code == 422
    first = client.post(ORDERS, json=body, headers=headers)
    assert first.status_code == 201 and count_orders(app) == 1
    with app.app_context(), writing():
        db.session.execute(update(IdempotencyKey).values(created_at=datetime.now(UTC) - timedelta(hours=25)))
        db.session.commit()
    later = client.post(ORDERS, json=body, headers=headers)
    assert later.status_code == 201 and later.json["id"] != first.json["id"]  # kept 24 hours, not more
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(IdempotencyKey)) == 1  # the old one purged


@pytest.mark.sqlite_only
def test_keys_on_patients_and_visits(app, client, bearer, make_patient):
    headers = bearer("doctor") | {"Idempotency-Key": "p-1"}
    body = {"mrn": "MRN-IDEM", "first_name": "Ana", "last_name": "Lima", "date_of_birth": "1990-02-03", "sex": "female"}
    first, again = (client.post("/api/v1/patients", json=body, headers=headers) for _ in range(2))
    assert first.status_code == again.status_code == 201 and first.json == again.json
    visit = {"patient_id": first.json["id"], "reason": "Cough"}
    one, two = (client.post("/api/v1/visits", json=visit, headers=headers) for _ in range(2))
    assert one.status_code == 201 and one.json["id"] == two.json["id"]


def test_twenty_concurrent_posts_with_one_key_make_one_order(app, live_server, bearer, order_payload):
    headers = bearer("doctor") | {"Idempotency-Key": "burst-1"}
    body = order_payload()
    barrier = threading.Barrier(20)

    def post(_):
        barrier.wait(timeout=30)
        return live_server.request("POST", ORDERS, body, headers)

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(post, range(20)))
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [201] * 20, results[:3]
    assert len({payload["id"] for _, _, payload in results}) == 1
    assert sum(1 for _, headers_, _ in results if headers_.get("Idempotent-Replayed") == "true") == 19
    assert count_orders(app) == 1


def test_two_concurrent_patches_with_one_etag(app, live_server, bearer, make_order):
    headers = bearer("scheduler")
    order = make_order("ordered")
    when = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    barrier = threading.Barrier(2)

    def patch(_):
        barrier.wait(timeout=30)
        return live_server.request("PATCH", f"{ORDERS}/{order.id}/status", {"status": "scheduled", "scheduled_date": when},
                                   headers | {"If-Match": '"1"'})

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(patch, range(2)))
    assert sorted(status for status, _, _ in results) == [200, 412]
    stale = next(payload for status, _, payload in results if status == 412)
    assert stale["status"] == 412 and stale["type"].endswith("stale-version")
    status, response_headers, current = live_server.request("GET", f"{ORDERS}/{order.id}", headers=headers)
    assert current["version"] == 2 and response_headers["ETag"] == '"2"'
