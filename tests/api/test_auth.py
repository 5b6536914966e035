"""Bearer tokens and the browser session (with the CSRF header) on the API."""

from __future__ import annotations

import time

import pytest

from webapp.extensions import db, writing

pytestmark = pytest.mark.sqlite_only
TOKEN = "/api/v1/auth/token"
MODALITIES = "/api/v1/imaging/modalities"


def test_token_is_issued_for_good_credentials_only(client, make_user):
    user = make_user("technician", password="right-password")
    response = client.post(TOKEN, json={"username": user.username.upper(), "password": "right-password"})
    assert response.status_code == 200
    assert response.json["token_type"] == "bearer" and response.json["expires_in"] == 3600
    assert response.headers["Cache-Control"] == "no-store"
    token = response.json["access_token"]
    assert client.get(MODALITIES, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    for body in ({"username": user.username, "password": "wrong-password"},
                 {"username": "nobody", "password": "right-password"}):
        refused = client.post(TOKEN, json=body)
        assert refused.status_code == 401 and refused.mimetype == "application/problem+json"
    assert client.post(TOKEN, json={"username": user.username}).status_code == 422
    assert client.post(TOKEN, json={"username": "x" * 65, "password": "p"}).status_code == 422
    assert client.post(TOKEN, data="username=a", content_type="text/plain").status_code == 400


def _set(app, user, **fields):
    from webapp.auth.models import User

    with app.app_context(), writing():
        row = db.session.get(User, user.id)
        for name, value in fields.items():
            setattr(row, name, value)
        db.session.commit()


def test_token_refused_once_the_user_is_disabled_or_signed_out(app, client, bearer):
    headers = bearer("doctor")
    user = bearer.user
    assert client.get(MODALITIES, headers=headers).status_code == 200
    _set(app, user, session_generation=user.session_generation + 1)  # "sign out everywhere"
    assert client.get(MODALITIES, headers=headers).status_code == 401
    _set(app, user, session_generation=user.session_generation)
    assert client.get(MODALITIES, headers=headers).status_code == 200
    _set(app, user, is_enabled=False)
    assert client.get(MODALITIES, headers=headers).status_code == 401
    assert client.post(TOKEN, json={"username": user.username, "password": "password-123"}).status_code == 401


def test_token_expires(app, client, bearer, monkeypatch):
    headers = bearer("doctor")
    lifetime = app.config["API_TOKEN_MINUTES"] * 60
    assert client.get(MODALITIES, headers=headers).status_code == 200
    real_time = time.time
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: real_time() + lifetime + 5)
    expired = client.get(MODALITIES, headers=headers)
    assert expired.status_code == 401 and "expired" in expired.json["detail"]


def test_tokens_do_not_outlive_the_secret_key(app, client, bearer):
    headers = bearer("doctor")
    app.secret_key = "rotated"
    assert client.get(MODALITIES, headers=headers).status_code == 401


def test_browser_session_needs_the_csrf_header_for_writes(app, client, auth, make_patient):
    auth.login("scheduler")
    assert client.get("/api/v1/patients").status_code == 200  # reads need no CSRF header
    body = {"mrn": "MRN-CSRF-1", "first_name": "Ana", "last_name": "Lima", "date_of_birth": "1990-02-03", "sex": "female"}
    refused = client.post("/api/v1/patients", json=body)
    assert refused.status_code == 403 and refused.json["type"].endswith("csrf")
    assert client.post("/api/v1/patients", json=body, headers={"X-CSRFToken": "forged"}).status_code == 403
    # A token the session knows: take it from a page that renders one (Swagger UI's).
    page = client.get("/api/docs").get_data(as_text=True)
    token = page.split('name="csrf-token" content="')[1].split('"')[0]
    created = client.post("/api/v1/patients", json=body, headers={"X-CSRFToken": token})
    assert created.status_code == 201, created.json
    auth.logout()
    assert client.get("/api/v1/patients").status_code == 401


def test_openapi_document_and_docs_are_public(client):
    spec = client.get("/api/v1/openapi.json")
    assert spec.status_code == 200 and spec.json["openapi"].startswith("3.")
    assert spec.json["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    token_op = spec.json["paths"][TOKEN]["post"]
    assert not token_op.get("security")
    assert spec.json["paths"]["/api/v1/imaging/orders"]["get"]["security"] == [{"bearerAuth": []}]
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and b"swagger-ui-bundle.js" in docs.data
    asset = client.get("/api/docs/assets/js/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.data) > 100_000
    asset.close()
