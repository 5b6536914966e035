"""Peer review (issue 24 item 4), scored as ACR RADPEER scores: 1 concur; 2a/2b discrepancy not
ordinarily expected to be made; 3a/3b discrepancy that should be made most of the time; b likely
clinically significant. 2b, 3a and 3b need a comment and go to the QA queue."""

from __future__ import annotations

import uuid

from tests.reporting.test_api import draft, report_url


def _signed(client, make_order, token, reader_headers, modality_order=None):
    order = modality_order or make_order("completed")
    draft(client, reader_headers, order, findings="Clear.", impression="Normal.")
    version = client.get(report_url(order), headers=reader_headers).json["draft_version"]
    assert client.post(f"{report_url(order)}/sign", json={"draft_version": version},
                       headers=reader_headers).status_code == 200
    return order


def test_peer_review_rules(app, client, make_order, make_user, token, people):
    reader = token(people("radiologist"))
    reviewer = token(make_user("radiologist", full_name="Rita Reviewer"))
    order = _signed(client, make_order, token, reader)
    url = f"/api/v1/imaging/orders/{order.id}/peer-reviews"
    assert client.post(url, json={"score": "1"}, headers=reader).status_code == 403  # one's own
    assert client.post(url, json={"score": "1"}, headers=token("doctor")).status_code == 403
    assert client.post(url, json={"score": "4"}, headers=reviewer).status_code == 422
    no_comment = client.post(url, json={"score": "3b"}, headers=reviewer)
    assert no_comment.status_code == 422 and "comment" in no_comment.json["errors"]
    done = client.post(url, json={"score": "3b", "comment": "Missed a 2 cm lung nodule."}, headers=reviewer)
    assert done.status_code == 201 and done.json["score"] == "3b" and done.json["reviewer"] == "Rita Reviewer"
    third = token(make_user("radiologist"))
    assert client.post(url, json={"score": "1"}, headers=third).status_code == 409  # one review per study
    unsigned = make_order("completed")
    assert client.post(f"/api/v1/imaging/orders/{unsigned.id}/peer-reviews", json={"score": "1"},
                       headers=reviewer).status_code == 409
    listed = client.get("/api/v1/peer-reviews", headers=token("admin")).json
    assert [(i["accession_number"], i["score"], i["comment"]) for i in listed["items"]] == [
        (order.accession_number, "3b", "Missed a 2 cm lung nodule.")]
    assert client.get("/api/v1/peer-reviews?qa=true", headers=token("admin")).json["items"][0]["score"] == "3b"
    assert client.get("/api/v1/peer-reviews", headers=reviewer).status_code == 403
    assert client.get("/api/v1/peer-reviews?cursor=abc", headers=token("admin")).status_code == 422


def test_the_sample_is_peer_review_percent_of_reports_and_never_ones_own(app):
    from webapp.reporting import peer_review

    with app.app_context():
        app.config["PEER_REVIEW_PERCENT"] = 5
        ids = [uuid.UUID(int=n * 7919 + 1) for n in range(4000)]
        share = sum(peer_review.is_offered(i) for i in ids) / len(ids)
        assert 0.035 < share < 0.065
        app.config["PEER_REVIEW_PERCENT"] = 100
        assert all(peer_review.is_offered(i) for i in ids[:50])
        app.config["PEER_REVIEW_PERCENT"] = 0
        assert not any(peer_review.is_offered(i) for i in ids[:50])
        app.config["PEER_REVIEW_PERCENT"] = 5


def test_the_queue_offers_others_reports_and_the_admin_page_shows_rates(app, client, make_order, make_user, token,
                                                                        people, auth):
    app.config["PEER_REVIEW_PERCENT"] = 100
    try:
        reader_user = people("radiologist")
        order = _signed(client, make_order, token, token(reader_user))
        reviewer = make_user("radiologist")
        auth.login(reader_user)
        assert f'id="review-{order.id}"' not in client.get("/peer-review").get_data(as_text=True)
        auth.login(reviewer)
        page = client.get("/peer-review").get_data(as_text=True)
        assert f'id="review-{order.id}"' in page
        csrf = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
        client.post(f"/imaging/orders/{order.id}/peer-review", data={"csrf_token": csrf, "score": "2b",
                                                                       "comment": "Fracture missed."})
        assert f'id="review-{order.id}"' not in client.get("/peer-review").get_data(as_text=True)
        auth.login(make_user("admin"))
        admin_page = client.get("/admin/peer-review").get_data(as_text=True)
        assert "Fracture missed." in admin_page and "100.0 %" in admin_page
    finally:
        app.config["PEER_REVIEW_PERCENT"] = 5
