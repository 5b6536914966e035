"""The reading room (issue 24): versioned drafts (ETag, If-Match, the version a signature
carries) and claims (one reader per study, decided by the database's primary key)."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select

from tests.reporting.test_api import draft, events_of, report_url
from webapp.extensions import db
from webapp.reporting.models import ReportClaim


def test_report_etag_and_a_stale_if_match_overwrites_nothing(client, make_order, people, token):
    order = make_order("completed")
    radiologist = token(people("radiologist"))
    first = client.get(report_url(order), headers=radiologist)
    assert first.headers["ETag"] == '"draft-0"' and first.json["draft_version"] == 0
    saved = client.put(report_url(order), json={"findings": "Tab one."}, headers=radiologist | {"If-Match": '"draft-0"'})
    assert saved.status_code == 200 and saved.headers["ETag"] == '"draft-1"'
    # A second tab that read version 0 saves: refused, nothing overwritten.
    stale = client.put(report_url(order), json={"findings": "Tab two."}, headers=radiologist | {"If-Match": '"draft-0"'})
    assert stale.status_code == 412 and stale.content_type == "application/problem+json"
    assert stale.json["current_draft_version"] == 1
    assert client.get(report_url(order), headers=radiologist).json["findings"] == "Tab one."
    # An order's ETag is no draft version: 412 too.
    assert client.put(report_url(order), json={"findings": "x"},
                      headers=radiologist | {"If-Match": '"1"'}).status_code == 412
    fresh = client.put(report_url(order), json={"findings": "Tab two, after reading."},
                       headers=radiologist | {"If-Match": '"draft-1"'})
    assert fresh.status_code == 200 and fresh.json["draft_version"] == 2


def test_a_signature_signs_only_the_version_read(app, client, make_order, people, token, make_user):
    """Issue 24's defect: A saves, B saves, A signs -> B's text under A's name. Now the signature
    names the draft version read, and a draft another radiologist saved last is not signed blind."""
    order = make_order("completed")
    alice, bob = token(people("radiologist")), token(make_user("radiologist"))
    assert draft(client, alice, order, findings="Alice's findings.", impression="Alice.").status_code == 200
    seen = client.get(report_url(order), headers=alice).json["draft_version"]
    # Alice holds the claim: Bob's save is refused (409) and changes nothing.
    refused = draft(client, bob, order, findings="Bob's findings.")
    assert refused.status_code == 409 and "is reading" in refused.json["detail"]
    # Alice changes the draft in another tab; her first tab signs the version it read: 412.
    draft(client, alice, order, impression="Changed in tab two.")
    stale = client.post(f"{report_url(order)}/sign", json={"draft_version": seen}, headers=alice)
    assert stale.status_code == 412 and stale.json["current_draft_version"] == seen + 1
    assert client.get(f"/api/v1/imaging/orders/{order.id}", headers=alice).json["status"] == "completed"
    signed = client.post(f"{report_url(order)}/sign", json={"draft_version": seen + 1}, headers=alice)
    assert signed.status_code == 200 and signed.json["impression"] == "Changed in tab two."
    assert events_of(app, order)[-1] == "report"


def test_without_a_version_another_radiologists_draft_is_not_signed(app, client, make_order, people, token,
                                                                    make_user):
    order = make_order("completed")
    alice, bob = token(people("radiologist")), token(make_user("radiologist"))
    draft(client, bob, order, findings="Bob's.", impression="Bob's.")
    client.delete(f"/api/v1/imaging/orders/{order.id}/claim", headers=bob)
    # Alice may claim now, but signing Bob's text blind is refused.
    refused = client.post(f"{report_url(order)}/sign", json={}, headers=alice)
    assert refused.status_code == 412
    version = client.get(report_url(order), headers=alice).json["draft_version"]
    assert client.post(f"{report_url(order)}/sign", json={"draft_version": version},
                       headers=alice).status_code == 200


def test_claim_release_and_lapse(app, client, make_order, people, token, make_user):
    order = make_order("completed")
    alice_user, bob_user = people("radiologist"), make_user("radiologist", full_name="Bob Reader")
    alice, bob = token(alice_user), token(bob_user)
    url = f"/api/v1/imaging/orders/{order.id}/claim"
    # No body, no Content-Type needed.
    claimed = client.post(url, headers=bob)
    assert claimed.status_code == 200 and claimed.json["claimed_by"] == "Bob Reader" and claimed.json["claimed_at"]
    held = client.post(url, headers=alice)
    assert held.status_code == 409 and "Bob Reader is reading" in held.json["detail"]
    listed = client.get("/api/v1/imaging/orders?status=completed", headers=alice).json["items"]
    assert [o["claimed_by"] for o in listed if o["id"] == str(order.id)] == ["Bob Reader"]
    for role in ("doctor", "technician", "admin", "display"):
        assert client.post(url, headers=token(role)).status_code == 403, role
    # Alice's release of Bob's claim does nothing; Bob's own frees it.
    assert client.delete(url, headers=alice).json["claimed_by"] == "Bob Reader"
    assert client.delete(url, headers=bob).json["claimed_by"] is None
    assert client.post(url, headers=alice).status_code == 200
    # An idle claim lapses after REPORT_CLAIM_IDLE_MINUTES: then Bob may take it.
    with app.app_context():
        row = db.session.get(ReportClaim, order.id)
        row.last_active_at -= timedelta(minutes=app.config["REPORT_CLAIM_IDLE_MINUTES"] + 1)
        db.session.commit()
    assert client.post(url, headers=bob).json["claimed_by"] == "Bob Reader"
    assert client.post(f"/api/v1/imaging/orders/{make_order('scheduled').id}/claim", headers=bob).status_code == 409


def test_take_over_needs_an_attending_or_admin_and_a_reason_and_is_audited(app, client, make_order, people, token,
                                                                            make_user):
    order = make_order("completed")
    bob = token(make_user("radiologist", full_name="Bob Reader"))
    client.post(f"/api/v1/imaging/orders/{order.id}/claim", headers=bob)
    url = f"/api/v1/imaging/orders/{order.id}/claim/take-over"
    alice = token(people("radiologist"))
    assert client.post(url, json={}, headers=alice).status_code == 422
    assert client.post(url, json={"reason": "x"}, headers=token("doctor")).status_code == 403
    taken = client.post(url, json={"reason": "Bob went home ill."}, headers=alice)
    assert taken.status_code == 200 and taken.json["claimed_by"] == people("radiologist").display_name
    assert events_of(app, order)[-1] == "take_over"
    assert draft(client, bob, order, findings="Bob again.").status_code == 409


def test_twenty_radiologists_claim_at_once_and_exactly_one_holds_it(app, make_order, make_user, db_backend):
    """The primary key decides (not a check-then-insert): run on PostgreSQL and SQLite."""
    order = make_order("completed")
    readers = [make_user("radiologist") for _ in range(20)]
    tokens = []
    for user in readers:
        answer = app.test_client().post("/api/v1/auth/token", json={"username": user.username, "password": "password-123"})
        tokens.append({"Authorization": f"Bearer {answer.json['access_token']}"})
    barrier = threading.Barrier(20)
    results: list[int] = []

    def claim(headers):
        client = app.test_client()
        barrier.wait()
        results.append(client.post(f"/api/v1/imaging/orders/{order.id}/claim", headers=headers).status_code)

    threads = [threading.Thread(target=claim, args=(headers,)) for headers in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results) == [200] + [409] * 19, results
    with app.app_context():
        assert len(db.session.scalars(select(ReportClaim).where(ReportClaim.order_id == order.id)).all()) == 1


def test_sign_and_open_the_next_skips_studies_another_reader_holds(app, make_order, make_user, people):
    """Issue 24: "sign and open the next" sent every radiologist to the same STAT order."""
    from webapp.reporting import claims, services

    held = make_order("completed", priority="stat")
    free = make_order("completed", priority="routine")
    other = make_user("radiologist")
    with app.app_context():
        from webapp.auth.models import User
        from webapp.imaging.models import ImagingOrder

        claims.claim(db.session.get(User, other.id), db.session.get(ImagingOrder, held.id))
        db.session.commit()
        me = db.session.get(User, people("radiologist").id)
        assert services.next_to_report(reader=me).id == free.id
        assert services.next_to_report().id == held.id  # without a reader: the queue's head
