"""Sign-in throttling at deployment scale, and the deployment settings around it.

Behind proxies (TRUSTED_PROXIES), parallel bursts, an attacker locking a named account, the
same work for every kind of account; Secure cookies, HSTS and redirects that ignore Host.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.api.conftest import LiveServer
from webapp import create_app
from webapp.config import Config, TestConfig

PASSWORD = "right-password-1"
LOAD_BALANCER = "10.0.0.2"
LIMITS = {"LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS": 3, "LOGIN_MAX_FAILURES_PER_ADDRESS": 5,
          "LOGIN_MAX_FAILURES_PER_ACCOUNT": 8, "LOGIN_THROTTLE_MINUTES": 15, "LOGIN_ACCOUNT_LOCK_MINUTES": 60}


@pytest.fixture
def app_config():
    return LIMITS | {"TRUSTED_PROXIES": 1, "WTF_CSRF_ENABLED": False}


def _login(client, username, password=PASSWORD, *, client_ip: str | None = None, address=LOAD_BALANCER):
    """A sign-in through the load balancer (it adds X-Forwarded-For), or straight from ``address``."""
    headers = {"X-Forwarded-For": client_ip} if client_ip else {}
    return client.post("/login", data={"username": username, "password": password}, headers=headers,
                       environ_base={"REMOTE_ADDR": address})


@pytest.mark.sqlite_only
def test_trusted_proxies_decide_the_throttled_address_and_the_scheme(app, database_url, app_config, make_user):
    make_user("doctor", username="amy", password=PASSWORD)
    client = app.test_client()
    for i in range(5):  # one client behind the load balancer reaches its address limit
        assert _login(client, f"guess-{i}", "wrong", client_ip="203.0.113.7").status_code == 401
    assert _login(client, "amy", client_ip="203.0.113.7").status_code == 429
    # Someone else behind the same load balancer is not locked out with them.
    assert _login(app.test_client(), "amy", client_ip="203.0.113.8").status_code == 303

    # TRUSTED_PROXIES=0 (the default): forwarded headers are anyone's to send, so they are ignored.
    direct = create_app(TestConfig(database_url, **(app_config | {"TRUSTED_PROXIES": 0}))).test_client()
    for i in range(5):
        assert _login(direct, f"other-{i}", "wrong", client_ip=f"198.51.100.{i}", address="192.0.2.50").status_code == 401
    assert _login(direct, "amy", client_ip="198.51.100.99", address="192.0.2.50").status_code == 429


def _post_form(url: str, fields: dict, headers: dict) -> int:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode(), method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"} | headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _burst(url: str, attempts: list[tuple[str, str]], password: str = "wrong") -> list[int]:
    """Every (username, client address) attempt at once, each on its own connection."""
    start = threading.Barrier(len(attempts))

    def one(attempt):
        username, client_ip = attempt
        start.wait()
        return _post_form(url, {"username": username, "password": password}, {"X-Forwarded-For": client_ip})

    with ThreadPoolExecutor(len(attempts)) as pool:
        return list(pool.map(one, attempts))


def test_a_parallel_burst_gets_at_most_the_limit_before_429(app, make_user):
    make_user("admin", username="admin", password=PASSWORD)
    server = LiveServer(app)
    server.thread.start()
    try:
        url = server.url + "/login"
        # One address, many usernames: the address limit (5).
        spread = _burst(url, [(f"user-{i}", "203.0.113.20") for i in range(14)])
        # One address, one username: the pair limit (3).
        focused = _burst(url, [("admin", "203.0.113.21")] * 14)
    finally:
        server.server.shutdown()
        server.thread.join(timeout=10)
    assert sorted(spread) == [401] * 5 + [429] * 9
    assert sorted(focused) == [401] * 3 + [429] * 11


def test_parallel_correct_sign_ins_of_one_account_are_never_throttled(app, make_user):
    """Issue 26, item 14: eight tablets signing in as one account at once, from one address, used
    to get 429 now and then: each attempt reserves a failure before its password is checked, and
    the reservations of right passwords still in flight counted against the pair's limit (3)."""
    app.config["PASSWORD_HASH_METHOD"] = "scrypt"  # a real hash's time: the attempts overlap
    make_user("technician", username="tablets", password=PASSWORD)
    server = LiveServer(app)
    server.thread.start()
    try:
        statuses = _burst(server.url + "/login", [("tablets", "203.0.113.30")] * 8, password=PASSWORD)
    finally:
        server.server.shutdown()
        server.thread.join(timeout=10)
    assert set(statuses) <= {200, 303} and len(statuses) == 8, statuses  # signed in (redirect followed)


def test_an_attacker_address_cannot_lock_the_account_for_everyone(client, make_user, monkeypatch):
    from webapp.auth import signin

    # Who is refused is the point here, not how long a refusal looks again first (6 s each, 17 of them).
    monkeypatch.setattr(signin, "RECHECK_SECONDS", 0.2)
    make_user("admin", username="admin", password=PASSWORD)
    attacker = [_login(client, "admin", f"guess-{i}", client_ip="203.0.113.66").status_code for i in range(20)]
    assert attacker == [401] * 3 + [429] * 17
    # The right password from the attacker's address is refused too, for the pair's window ...
    refused = _login(client, "admin", client_ip="203.0.113.66")
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 15 * 60
    # ... but the administrator, elsewhere, signs in.
    assert _login(client, "admin", client_ip="198.51.100.10").status_code == 303


def test_guessing_from_many_addresses_locks_the_account_for_longer(app, make_user, monkeypatch):
    from webapp.auth import signin

    monkeypatch.setattr(signin, "RECHECK_SECONDS", 0.2)  # as above
    make_user("admin", username="admin", password=PASSWORD)
    client = app.test_client()
    answers = [_login(client, "admin", "wrong", client_ip=f"198.51.100.{i}").status_code for i in range(10)]
    assert answers == [401] * 8 + [429] * 2  # the account's limit (8), any addresses
    locked = _login(app.test_client(), "admin", client_ip="192.0.2.99")
    assert locked.status_code == 429
    assert 15 * 60 < int(locked.headers["Retry-After"]) <= 60 * 60  # the account's longer window


@pytest.mark.sqlite_only
def test_every_kind_of_account_costs_one_password_hash(client, make_user, monkeypatch, runner):
    """Unknown, disabled, enabled with a wrong or the right password: the same work (no timing oracle)."""
    from webapp.auth import signin

    calls: list[str] = []
    real = signin.check_password_hash

    def counting(stored, password):
        calls.append(stored.split("$", 1)[0])
        return real(stored, password)

    monkeypatch.setattr(signin, "check_password_hash", counting)
    make_user("doctor", username="enabled-doc", password=PASSWORD)
    make_user("doctor", username="disabled-doc", password=PASSWORD)
    assert runner.invoke(args=["users", "disable", "disabled-doc"]).exit_code == 0
    cases = [("nobody-here", PASSWORD, 401), ("disabled-doc", PASSWORD, 401), ("enabled-doc", "wrong", 401),
             ("enabled-doc", PASSWORD, 303)]
    for index, (username, password, status) in enumerate(cases):
        assert _login(client, username, password, client_ip=f"192.0.2.{index}").status_code == status
        assert len(calls) == index + 1, (username, calls)
    token_cases = [("nobody-here", 401), ("disabled-doc", 401), ("enabled-doc", 200)]
    for username, status in token_cases:
        response = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
        assert response.status_code == status
    assert len(calls) == len(cases) + len(token_cases)
    # The dummy hash is made like real users' hashes (same method, so the same cost).
    assert len(set(calls)) == 1


@pytest.mark.sqlite_only
def test_secure_cookie_and_hsts_when_configured(app, database_url, app_config, make_user):
    make_user("doctor", username="sam", password=PASSWORD)
    secure = create_app(TestConfig(database_url, **(app_config | {"SESSION_COOKIE_SECURE": True,
                                                                  "HSTS_SECONDS": 31536000})))
    client = secure.test_client()
    signed_in = client.post("/login", data={"username": "sam", "password": PASSWORD},
                            headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.5"},
                            environ_base={"REMOTE_ADDR": LOAD_BALANCER})
    assert signed_in.status_code == 303
    cookie = signed_in.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie
    assert signed_in.headers["Strict-Transport-Security"] == "max-age=31536000"
    api = client.get("/api/v1/openapi.json", base_url="https://localhost")
    assert api.headers["Strict-Transport-Security"] == "max-age=31536000"
    # Plain HTTP (nothing says HTTPS): no HSTS, which browsers ignore there anyway.
    assert "Strict-Transport-Security" not in client.get("/login").headers
    # Not configured (the default): none even over HTTPS.
    assert "Strict-Transport-Security" not in app.test_client().get("/login", base_url="https://localhost").headers
    # X-Forwarded-Proto counts only from trusted proxies (TRUSTED_PROXIES=0: from nobody).
    direct = create_app(TestConfig(database_url, **(app_config | {"TRUSTED_PROXIES": 0, "HSTS_SECONDS": 600})))
    spoofed = direct.test_client().get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in spoofed.headers
    assert "Strict-Transport-Security" in direct.test_client().get("/login", base_url="https://localhost").headers


@pytest.mark.sqlite_only
def test_deployment_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    defaults = Config()
    assert (defaults.TRUSTED_PROXIES, defaults.HSTS_SECONDS, defaults.SESSION_COOKIE_SECURE) == (0, 0, False)
    monkeypatch.setenv("TRUSTED_PROXIES", "2")
    monkeypatch.setenv("HSTS_SECONDS", "63072000")
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "true")
    configured = Config()
    assert (configured.TRUSTED_PROXIES, configured.HSTS_SECONDS, configured.SESSION_COOKIE_SECURE) == (2, 63072000, True)
    monkeypatch.setenv("TRUSTED_PROXIES", "-1")
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        Config()


@pytest.mark.sqlite_only
@pytest.mark.parametrize("path,location", [
    ("/imaging//orders", "/imaging/orders"),
    ("/imaging//orders?status=ordered", "/imaging/orders?status=ordered"),
    ("/api/v1//openapi.json", "/api/v1/openapi.json"),
])
def test_routing_redirects_ignore_the_host_header(client, path, location):
    response = client.get(path, headers={"Host": "evil.example"})
    assert response.status_code == 308
    assert response.headers["Location"] == location
