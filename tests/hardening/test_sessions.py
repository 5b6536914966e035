"""Sessions and sign-in: new session at login, ending sessions, timeouts, throttling, hashing."""

from __future__ import annotations

import re
import time

import pytest
from werkzeug.security import check_password_hash

from webapp import create_app
from webapp.config import Config, TestConfig

pytestmark = pytest.mark.sqlite_only
PASSWORD = "right-password-1"


def _login(client, username, password=PASSWORD, address="127.0.0.1"):
    return client.post("/login", data={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def _errors(response) -> str:
    """The sign-in form's error text, without markup that differs per request (CSRF tokens)."""
    return " ".join(re.findall(r'class="invalid-feedback[^"]*"[^>]*>([^<]+)<', response.get_data(as_text=True)))


def test_sign_in_issues_a_new_session_and_the_old_cookie_stays_anonymous(client, make_user):
    make_user("doctor", username="ann", password=PASSWORD)
    client.get("/login")
    with client.session_transaction() as session:
        session["planted"] = "fixation attempt"
    before = client.get_cookie("session").value
    assert _login(client, "ann").status_code == 303
    after = client.get_cookie("session").value
    assert after != before
    with client.session_transaction() as session:
        assert "planted" not in session and session["_user_id"].endswith(":0")
    # The cookie from before sign-in is still not a signed-in session.
    client.set_cookie("session", before)
    assert client.get("/dashboard").status_code == 303


def test_disabling_a_user_ends_their_sessions_and_sign_in(app, client, runner, make_user):
    make_user("doctor", username="bob", password=PASSWORD)
    assert _login(client, "bob").status_code == 303
    assert client.get("/dashboard").status_code == 200
    result = runner.invoke(args=["users", "disable", "bob"])
    assert result.exit_code == 0, result.output
    assert client.get("/dashboard").status_code == 303  # signed out at the next request
    refused = _login(app.test_client(), "bob")
    assert refused.status_code == 401
    assert _errors(refused) == "Wrong username or password."  # nothing says "disabled"
    assert runner.invoke(args=["users", "enable", "bob"]).exit_code == 0
    assert _login(app.test_client(), "bob").status_code == 303


def test_end_sessions_signs_a_user_out_everywhere(app, runner, make_user):
    make_user("technician", username="tia", password=PASSWORD)
    tablets = [app.test_client(), app.test_client()]
    for tablet in tablets:
        assert _login(tablet, "tia").status_code == 303
    assert runner.invoke(args=["users", "end-sessions", "tia"]).exit_code == 0
    assert all(tablet.get("/dashboard").status_code == 303 for tablet in tablets)


@pytest.fixture
def app_config():
    return {"SESSION_IDLE_MINUTES": 2, "SESSION_MAX_HOURS": 1, "LOGIN_MAX_FAILURES_PER_ACCOUNT": 3,
            "LOGIN_MAX_FAILURES_PER_ADDRESS": 6, "LOGIN_THROTTLE_MINUTES": 10, "LOGIN_ACCOUNT_LOCK_MINUTES": 10,
            "WTF_CSRF_ENABLED": False}


@pytest.mark.parametrize("key,age,signed_in", [
    ("seen_at", 60, True), ("seen_at", 3 * 60, False), ("login_at", 50 * 60, True), ("login_at", 61 * 60, False),
])
def test_idle_and_absolute_timeouts_follow_the_configuration(client, make_user, key, age, signed_in):
    make_user("doctor", username="cat", password=PASSWORD)
    assert _login(client, "cat").status_code == 303
    now = int(time.time())
    with client.session_transaction() as session:
        session["login_at"] = session["seen_at"] = now
        session[key] = now - age
    assert client.get("/dashboard").status_code == (200 if signed_in else 303)


def test_sign_in_is_throttled_per_account_without_revealing_accounts(client, make_user):
    make_user("doctor", username="dan", password=PASSWORD)
    existing = [_login(client, "dan", "wrong-guess-1", address=f"10.0.0.{i}") for i in range(3)]
    unknown = [_login(client, "nobody", "wrong-guess-1", address=f"10.0.1.{i}") for i in range(3)]
    # The same answer for a real account and for no account at all.
    assert [r.status_code for r in existing] == [r.status_code for r in unknown] == [401] * 3
    assert {_errors(r) for r in existing + unknown} == {"Wrong username or password."}
    # Locked: even the right password is refused now, from any address; same for the unknown name.
    locked = _login(client, "DAN", PASSWORD, address="10.9.9.9")
    locked_unknown = _login(client, "nobody", PASSWORD, address="10.9.9.8")
    assert locked.status_code == locked_unknown.status_code == 429
    assert _errors(locked) == _errors(locked_unknown) == "Too many failed sign-in attempts. Try again in 10 minutes."
    with client.session_transaction() as session:
        assert "_user_id" not in session


def test_sign_in_is_throttled_per_address_across_workers(app, database_url, app_config, make_user):
    """Two app instances (two gunicorn workers) share the counts through the database."""
    make_user("doctor", username="eve", password=PASSWORD)
    other_worker = create_app(TestConfig(database_url, **app_config))
    clients = [app.test_client(), other_worker.test_client()]
    for i in range(6):  # different usernames, one address: only the address limit applies
        assert _login(clients[i % 2], f"guess-{i}", "wrong-guess-1", address="192.0.2.7").status_code == 401
    assert _login(clients[0], "eve", PASSWORD, address="192.0.2.7").status_code == 429
    assert _login(clients[1], "eve", PASSWORD, address="192.0.2.8").status_code == 303


def test_a_successful_sign_in_clears_the_account_count(client, make_user):
    make_user("doctor", username="fay", password=PASSWORD)
    for _ in range(2):
        assert _login(client, "fay", "wrong-guess-1").status_code == 401
    assert _login(client, "fay").status_code == 303
    client.post("/logout")
    for _ in range(2):
        assert _login(client, "fay", "wrong-guess-1").status_code == 401
    assert _login(client, "fay").status_code == 303


def test_passwords_are_hashed_with_scrypt_in_production(app, monkeypatch, tmp_path):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    assert Config().PASSWORD_HASH_METHOD == "scrypt"
    from webapp.auth.models import User

    with app.app_context():
        app.config["PASSWORD_HASH_METHOD"] = Config().PASSWORD_HASH_METHOD
        user = User(username="x", role="doctor")
        user.set_password(PASSWORD)
    assert user.password_hash.startswith("scrypt:")
    assert PASSWORD not in user.password_hash
    assert check_password_hash(user.password_hash, PASSWORD)


def _token(client, username, password=PASSWORD, address="127.0.0.1"):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def test_tokens_end_with_logout_and_disabling(app, client, runner, make_user):
    make_user("scheduler", username="gus", password=PASSWORD)
    token = _token(client, "gus").get_json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/imaging/orders", headers=bearer).status_code == 200
    browser = app.test_client()
    assert _login(browser, "gus").status_code == 303
    assert browser.post("/logout").status_code == 303  # signing out ends the tokens too
    assert client.get("/api/v1/imaging/orders", headers=bearer).status_code == 401

    token = _token(client, "gus").get_json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/imaging/orders", headers=bearer).status_code == 200
    assert runner.invoke(args=["users", "disable", "gus"]).exit_code == 0
    assert client.get("/api/v1/imaging/orders", headers=bearer).status_code == 401
    disabled, unknown = _token(client, "gus"), _token(client, "nobody-at-all")
    assert disabled.status_code == unknown.status_code == 401
    assert disabled.get_json()["detail"] == unknown.get_json()["detail"]


def test_the_token_endpoint_shares_the_throttle_with_the_sign_in_page(client, make_user):
    make_user("doctor", username="hal", password=PASSWORD)
    assert _login(client, "hal", "wrong-guess-1").status_code == 401
    assert _token(client, "hal", "wrong-guess-2").status_code == 401
    assert _token(client, "hal", "wrong-guess-3").status_code == 401
    refused = _token(client, "hal")  # the right password, but the account is locked for now
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    assert 0 < int(refused.headers["Retry-After"]) <= 600
    assert _login(client, "hal").status_code == 429
