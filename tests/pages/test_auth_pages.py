import time

import pytest

from tests.pages.conftest import hx

pytestmark = pytest.mark.sqlite_only


def test_login_page_and_wrong_password(client, make_user):
    make_user("doctor", username="dr-who", password="right-password-1")
    page = client.get("/login")
    assert page.status_code == 200
    assert b'<label class="form-label" for="username">' in page.data
    wrong = client.post("/login", data={"username": "dr-who", "password": "nope-nope-1"})
    assert wrong.status_code == 401
    assert b"Wrong username or password." in wrong.data
    unknown = client.post("/login", data={"username": "nobody", "password": "nope-nope-1"})
    assert unknown.status_code == 401


def test_login_starts_a_new_session_and_redirects_safely(client, make_user):
    make_user("scheduler", username="sam", password="right-password-1")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    response = client.post("/login?next=//evil.example/x", data={"username": "SAM", "password": "right-password-1"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/dashboard/to-schedule"  # the scheduler's landing page, not the unsafe next
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"].endswith(":0")
        assert session.permanent
    assert client.get("/dashboard").status_code == 200
    client.post("/logout")
    again = client.post("/login", data={"username": "sam", "password": "right-password-1", "next": "/imaging/orders"})
    assert again.headers["Location"] == "/imaging/orders"


def test_logout_ends_every_session_of_the_user(app, make_user):
    make_user("doctor", username="dana", password="right-password-1")
    first, second = app.test_client(), app.test_client()
    for client in (first, second):
        assert client.post("/login", data={"username": "dana", "password": "right-password-1"}).status_code == 303
    assert second.get("/dashboard").status_code == 200
    response = first.post("/logout")
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    # The other browser's session carried the old generation: it is signed out too.
    assert second.get("/dashboard").status_code == 303


@pytest.mark.parametrize("key,age", [("seen_at", 31 * 60), ("login_at", 13 * 3600)])
def test_idle_and_absolute_timeouts(client, auth, key, age):
    auth.login("doctor")
    now = int(time.time())
    with client.session_transaction() as session:
        session["login_at"] = session["seen_at"] = now
        session[key] = now - age
        if key == "login_at":
            session["seen_at"] = now
    response = client.get("/dashboard")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login")
    follow = client.get(response.headers["Location"])
    assert b"Your session expired" in follow.data


def test_unauthenticated_htmx_request_redirects_the_whole_page(client):
    response = client.get("/imaging/orders", headers=hx("order-results"))
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login?next=")
    plain = client.get("/imaging/orders")
    assert plain.status_code == 303 and "/login?next=" in plain.headers["Location"]


def test_display_role_gets_a_friendly_403(client, auth):
    auth.login("display")
    response = client.get("/dashboard")
    assert response.status_code == 403
    assert b"Not allowed" in response.data and b"Your role does not allow" in response.data


def test_friendly_404_and_500(app, client, auth):
    @app.route("/boom-for-test")
    def boom():
        raise RuntimeError("boom")

    auth.login("doctor")
    missing = client.get("/imaging/orders/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and b"There is no such page or record." in missing.data
    app.testing = False  # let the error handler answer instead of raising into the test
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.get("/boom-for-test")
    assert response.status_code == 500
    assert b"Something went wrong" in response.data and b"RuntimeError" not in response.data
