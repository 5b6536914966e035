"""Passwords (issue 26, item 14): a user changes their own, an administrator resets anyone's
(page and `flask users set-password`); every other session and API token of that user ends."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.sqlite_only
OLD, NEW = "old-password-1", "a-new-password-2"


def _sign_in(app, username, password):
    client = app.test_client()
    response = client.post("/login", data={"username": username, "password": password})
    assert response.status_code == 303, response.status_code
    return client


def _token(app, username, password):
    response = app.test_client().post("/api/v1/auth/token", json={"username": username, "password": password})
    return {"Authorization": f"Bearer {response.json['access_token']}"}


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": False}


def test_a_user_changes_their_password_and_other_sessions_end(app, make_user):
    make_user("doctor", username="dora", password=OLD)
    here, elsewhere = _sign_in(app, "dora", OLD), _sign_in(app, "dora", OLD)
    token = _token(app, "dora", OLD)
    assert here.get("/account/password").status_code == 200

    wrong = here.post("/account/password", data={"current_password": "not-it-1", "new_password": NEW, "confirm": NEW})
    assert wrong.status_code == 422 and b"This is not your current password." in wrong.data
    differ = here.post("/account/password", data={"current_password": OLD, "new_password": NEW, "confirm": NEW + "x"})
    assert differ.status_code == 422 and b"The two new passwords differ." in differ.data
    short = here.post("/account/password", data={"current_password": OLD, "new_password": "short", "confirm": "short"})
    assert short.status_code == 422 and b"at least 8 characters" in short.data
    named = here.post("/account/password", data={"current_password": OLD, "new_password": "dora-12345",
                                                 "confirm": "dora-12345"})
    assert named.status_code == 422 and b"must not contain the username" in named.data
    assert _sign_in(app, "dora", OLD)  # nothing changed so far

    done = here.post("/account/password", data={"current_password": OLD, "new_password": NEW, "confirm": NEW})
    assert done.status_code == 303
    assert here.get("/dashboard").status_code == 200  # still signed in here
    assert elsewhere.get("/dashboard").status_code == 303  # signed out everywhere else
    assert app.test_client().get("/api/v1/imaging/orders", headers=token).status_code == 401
    assert app.test_client().post("/login", data={"username": "dora", "password": OLD}).status_code == 401
    assert _sign_in(app, "dora", NEW)


def test_an_admin_resets_a_password(app, make_user):
    make_user("admin", username="ada", password=OLD)
    make_user("technician", username="tom", password=OLD)
    tom = _sign_in(app, "tom", OLD)
    admin = _sign_in(app, "ada", OLD)
    listing = admin.get("/admin/users")
    assert listing.status_code == 200 and b'id="user-tom"' in listing.data
    assert tom.get("/admin/users").status_code == 403
    from webapp.auth.models import User
    from webapp.extensions import db
    with app.app_context():
        tom_id = db.session.query(User.id).filter_by(username="tom").scalar()
    assert tom.get(f"/admin/users/{tom_id}/password").status_code == 403
    refused = admin.post(f"/admin/users/{tom_id}/password", data={"new_password": "tom-secret-1",
                                                                  "confirm": "tom-secret-1"})
    assert refused.status_code == 422
    done = admin.post(f"/admin/users/{tom_id}/password", data={"new_password": NEW, "confirm": NEW})
    assert done.status_code == 303
    assert tom.get("/dashboard").status_code == 303  # his session ended
    assert _sign_in(app, "tom", NEW)
    assert admin.get("/admin/users/00000000-0000-0000-0000-000000000000/password").status_code == 404


def test_set_password_command(app, runner, make_user):
    make_user("radiologist", username="rita", password=OLD)
    result = runner.invoke(args=["users", "set-password", "rita", "--password", NEW])
    assert result.exit_code == 0, result.output
    assert "Set a new password for rita" in result.output
    assert _sign_in(app, "rita", NEW)
    result = runner.invoke(args=["users", "set-password", "rita", "--password", "rita-1234"])
    assert result.exit_code != 0 and "must not contain the username" in result.output
    result = runner.invoke(args=["users", "set-password", "nobody", "--password", NEW])
    assert result.exit_code != 0 and "No user named" in result.output
