"""The app moves its long-lived objects out of the collector's way once warm (webapp/gc_freeze.py)."""

from __future__ import annotations

import pytest

from webapp import gc_freeze


@pytest.fixture
def app_config():
    return {"GC_FREEZE_AFTER_REQUESTS": 3}


def test_a_warm_process_freezes_after_the_answer_then_once_more(app, monkeypatch):
    frozen = []
    monkeypatch.setattr(gc_freeze, "freeze", lambda: frozen.append(len(frozen)))
    client = app.test_client()
    for _ in range(2):
        assert client.get("/login").status_code == 200
    assert frozen == []
    response = client.get("/login")  # the third: frozen once the answer is closed (sent)
    assert response.status_code == 200
    response.close()
    assert frozen == [0]
    for _ in range(27):
        client.get("/login").close()
    assert frozen == [0, 1]  # the 30th: the second and last time
    for _ in range(40):
        client.get("/login").close()
    assert frozen == [0, 1]


def test_the_tests_own_apps_never_freeze(database_url, monkeypatch):
    from webapp import create_app
    from webapp.config import TestConfig

    frozen = []
    monkeypatch.setattr(gc_freeze, "freeze", lambda: frozen.append(1))
    app = create_app(TestConfig(database_url))
    client = app.test_client()
    for _ in range(25):
        client.get("/login").close()
    assert frozen == []
