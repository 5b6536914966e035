"""Crafted input on the pages gets a 4xx with a clear message, never a 500, on either database."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db


def cursor(moment, key) -> str:
    return base64.urlsafe_b64encode(json.dumps([moment, key]).encode()).decode().rstrip("=")


CRAFTED_CURSORS = [
    cursor("0001-01-01T00:00:00+14:00", str(uuid.uuid4())),  # year 0 in UTC
    cursor("2026-01-01T00:00:00+00:00", 12345),  # an integer key
    cursor("9999-12-31T23:59:59-12:00", str(uuid.uuid4())),  # year 10000 in UTC
]


def test_crafted_cursors_and_dates_on_the_order_list(client, auth, make_order):
    order = make_order("ordered")
    auth.login("doctor")
    for crafted in CRAFTED_CURSORS:
        page = client.get("/imaging/orders", query_string={"cursor": crafted})
        assert page.status_code == 422, crafted
        assert "Page</span>: Not a cursor this server gave out." in page.get_data(as_text=True)
        assert order.accession_number in page.get_data(as_text=True)  # the first page instead
    for name in ("date_from", "date_to"):
        for day in ("9999-12-31", "0001-01-01"):
            page = client.get("/imaging/orders", query_string={name: day})
            assert page.status_code == 422, (name, day)
            label = {"date_from": "Ordered from", "date_to": "Ordered to"}[name]
            assert f"{label}</span>: A date between the years 1900 and 2200." in page.get_data(as_text=True)


def test_nul_characters_are_refused_at_the_boundary(client, auth, make_order):
    order = make_order("ordered")
    doctor = auth.login("doctor")
    answers = {
        "patient search": client.get("/patients", query_string={"q": "Garcia\x00"}),
        "order list": client.get("/imaging/orders", query_string={"q": "\x00"}),
        "htmx order list": client.get("/imaging/orders", query_string={"q": "\x00"}, headers={"HX-Request": "true"}),
        "note form": client.post(f"/imaging/orders/{order.id}/actions/note",
                                 data={"note-version": "1", "note-note": "Call the ward\x00"}),
        "edit form": client.post(f"/imaging/orders/{order.id}/edit", data={
            "version": "1", "modality": "XRAY", "body_part": "CHEST", "procedure_code": "71046",
            "clinical_indication": "Suspected\x00 pneumonia", "priority": "stat"}),
    }
    auth.logout()
    answers["sign-in username"] = client.post("/login", data={"username": doctor.username + "\x00",
                                                              "password": "password-123"})
    for what, response in answers.items():
        assert response.status_code == 400, (what, response.status_code)
        assert "NUL character" in response.get_data(as_text=True), what
    # Nothing was written, and the app answers normally afterwards.
    auth.login(doctor)
    assert client.get(f"/imaging/orders/{order.id}").status_code == 200
    assert "Call the ward" not in client.get(f"/imaging/orders/{order.id}").get_data(as_text=True)


def test_next_with_a_line_break_is_not_followed(client, auth):
    auth.login("doctor")
    for crafted in ("/%0D%0AX:1", "/\r\nSet-Cookie: a=b", "/ok\tthere"):
        response = client.get("/login", query_string={"next": crafted.replace("%0D%0A", "\r\n")})
        assert response.status_code == 303
        assert response.headers["Location"] == "/dashboard"
        assert "X" not in response.headers and "a=b" not in response.headers.get("Set-Cookie", "")


def test_the_error_page_survives_a_failed_transaction(app, client, auth):
    """A database error the code did not expect: the 500 page itself must not fail on the
    session the error left unusable (it loads the signed-in user for the page's header)."""
    from webapp.auth.models import User

    def duplicate_user():
        db.session.add(User(username=auth.user.username, role="doctor", password_hash="x"))
        db.session.flush()

    app.add_url_rule("/test-duplicate-user", "test_duplicate_user", duplicate_user)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    auth.login("doctor")
    with pytest.raises(IntegrityError), app.app_context():  # what the route runs into
        duplicate_user()
    response = client.get("/test-duplicate-user")
    assert response.status_code == 500
    assert "Something went wrong" in response.get_data(as_text=True)
    assert client.get("/dashboard").status_code == 200
