import re

import pytest

pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def app_config(database_url):
    return {"WTF_CSRF_ENABLED": True}


def _csrf(html: bytes) -> str:
    return re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1).decode()


def test_security_headers_and_no_inline_script(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "HX-Request" in response.headers["Vary"]
    scripts = re.findall(rb"<script([^>]*)>", response.data)
    assert scripts and all(b'src="/' in attrs for attrs in scripts)
    assert b"<style" not in response.data and b' style="' not in response.data


def test_session_cookie_is_httponly_and_samesite(client, make_user):
    make_user("doctor", username="cookie-doc", password="right-password-1")
    token = _csrf(client.get("/login").data)
    response = client.post("/login", data={"username": "cookie-doc", "password": "right-password-1", "csrf_token": token})
    assert response.status_code == 303
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_forms_and_htmx_requests_need_the_csrf_token(client, auth, make_order):
    order = make_order("ordered")
    auth.login("doctor")
    url = f"/imaging/orders/{order.id}/actions/note"
    refused = client.post(url, data={"note-version": order.version, "note-note": "hello"})
    assert refused.status_code == 400
    assert b"The form expired" in refused.data
    page = client.get(f"/imaging/orders/{order.id}")
    token = re.search(rb'"X-CSRFToken": "([^"]+)"', page.data).group(1).decode()
    accepted = client.post(url, data={"note-version": order.version, "note-note": "hello"},
                           headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert accepted.status_code == 200
    assert b"Note added" in accepted.data


def test_front_end_packages_come_from_node_modules(client):
    htmx = client.get("/vendor/htmx/htmx.min.js")
    assert htmx.status_code == 200 and b"htmx" in htmx.data[:2000]
    assert client.get("/vendor/bootstrap/css/bootstrap.min.css").status_code == 200
    assert client.get("/vendor/htmx-ext-sse/sse.min.js").status_code == 200
    assert client.get("/vendor/left-pad/index.js").status_code == 404
    assert client.get("/vendor/htmx/../package.json").status_code == 404
    page = client.get("/login").data
    assert b"cdn" not in page.lower() and b"https://" not in page


def test_the_edit_form_needs_the_csrf_token(client, auth, make_order):
    order = make_order("ordered")
    auth.login("doctor")
    url = f"/imaging/orders/{order.id}/edit"
    fields = {"version": order.version, "modality": "XRAY", "body_part": "CHEST", "procedure_code": "71046",
              "clinical_indication": "Suspected pneumonia", "priority": "urgent"}
    refused = client.post(url, data=fields)
    assert refused.status_code == 400 and b"The form expired" in refused.data
    token = _csrf(client.get(url).data)  # the form's own hidden field
    accepted = client.post(url, data=fields | {"csrf_token": token})
    assert accepted.status_code == 303
    assert "is updated: priority" in client.get(accepted.headers["Location"]).get_data(as_text=True)
