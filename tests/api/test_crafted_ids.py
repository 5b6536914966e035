"""Crafted ids, cursors and dates answer 4xx, never 500, on both databases (issue 26, item 8).

PostgreSQL's ``integer`` holds at most 2^31 - 1; a larger id used to reach the database and fail
there. One bound (``webapp.paging.MAX_DB_ID``) is checked by every route before any query.
"""

from __future__ import annotations

import pytest

HUGE = 2**31
HUGER = 100024324740220294


@pytest.mark.parametrize("number", [HUGE, HUGER])
def test_ids_past_the_database_integer_answer_404(client, auth, bearer, number):
    auth.login("admin")
    for path in (f"/pacs/studies/{number}/thumbnails/0", f"/admin/outbox/{number}/retry",
                 f"/imaging/unmatched-studies/{number}/match", f"/critical-results/{number}/acknowledge"):
        method = client.get if "thumbnails" in path else client.post
        response = method(path, data={"order": "ACC-2026-00001"})
        assert response.status_code in (400, 404), (path, response.status_code)
    headers = bearer("admin")
    for path in (f"/api/v1/critical-results/{number}/acknowledge", f"/api/v1/pacs/unmatched/{number}/match"):
        response = client.post(path, json={"order_id": "00000000-0000-0000-0000-000000000000"}, headers=headers)
        assert response.status_code in (404, 422), (path, response.status_code)
        assert response.mimetype == "application/problem+json"


def test_cursors_and_event_ids_past_the_bound_answer_400(client, auth, bearer):
    headers = bearer("admin")
    response = client.get("/api/v1/critical-results", query_string={"cursor": str(HUGER)}, headers=headers)
    assert response.status_code in (400, 422) and response.mimetype == "application/problem+json"
    auth.login("doctor")
    response = client.get("/stream", query_string={"last_event_id": str(HUGE)})
    assert response.status_code == 400


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_metrics_at_the_ends_of_the_calendar(client, auth, bearer, day):
    auth.login("admin")
    assert client.get("/dashboard/metrics", query_string={"to": day}).status_code in (200, 400, 422)
    assert client.get("/dashboard/metrics", query_string={"from": day}).status_code in (200, 400, 422)
    response = client.get("/api/v1/metrics/turnaround", query_string={"to": day}, headers=bearer("admin"))
    assert response.status_code in (200, 404, 422)


def test_nul_in_page_searches_is_refused_not_logged(client, auth):
    auth.login("doctor")
    for path in ("/patients", "/imaging/orders"):
        response = client.get(path, query_string={"q": "\x00"})
        assert response.status_code == 400, (path, response.status_code)
