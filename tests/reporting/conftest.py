"""Fixtures of the reporting tests: the seeded report templates, and people by role."""

from __future__ import annotations

import pytest

from webapp.extensions import db, writing


@pytest.fixture(autouse=True)
def report_templates(app):
    from webapp.reporting.templates import load_report_templates

    with app.app_context(), writing():
        load_report_templates()
        db.session.commit()


@pytest.fixture
def people(make_order):
    """people(role) -> the user of that role the order factory uses (the radiologist who reports, …)."""
    return make_order.person


@pytest.fixture
def token(client, make_user):
    """token(role_or_user) -> Authorization headers for the API."""

    def factory(role_or_user="doctor"):
        user = make_user(role_or_user) if isinstance(role_or_user, str) else role_or_user
        response = client.post("/api/v1/auth/token", json={"username": user.username, "password": "password-123"})
        assert response.status_code == 200, response.json
        return {"Authorization": f"Bearer {response.json['access_token']}"}

    return factory
