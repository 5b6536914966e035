"""Shared browser-test fixtures: a real server (gunicorn, gevent workers, temp SQLite with demo
data) and Playwright driving Debian's Chromium.

Reuse from any test under tests/browser/:

- ``live_server``: session-scoped :class:`tests.browser.live.LiveServer` (``.url``, ``.query(sql)``,
  ``.log()``). Its environment comes from ``live_server_env``: override that fixture (session
  scope) in your own conftest or module to pass e.g. ``{"REDIS_URL": test_redis_url()}``;
  a module that overrides it gets a server of its own.
- ``browser`` (session) and ``page`` (per test, a fresh context at 1024x768, the tablet size);
  ``new_page()`` opens further pages in their own contexts (two users side by side).
- ``sign_in(page, username)`` as a fixture-bound helper: ``sign_in(page, "doctor")``.
"""

from __future__ import annotations

import pytest

from tests.browser.live import launch_chromium, start_live_server
from tests.browser.live import sign_in as _sign_in

TABLET = {"width": 1024, "height": 768}


@pytest.fixture(scope="session")
def live_server_env() -> dict[str, str]:
    """Extra environment for the live server (override to add REDIS_URL, APP_TIMEZONE, …)."""
    return {}


@pytest.fixture(scope="session")
def live_server(tmp_path_factory, live_server_env):
    server = start_live_server(tmp_path_factory.mktemp("live-server"), live_server_env)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser(playwright_instance):
    browser = launch_chromium(playwright_instance)
    yield browser
    browser.close()


@pytest.fixture
def new_page(browser, live_server):
    contexts = []

    def factory(viewport: dict | None = None):
        context = browser.new_context(base_url=live_server.url, viewport=viewport or TABLET)
        context.set_default_timeout(20_000)
        contexts.append(context)
        return context.new_page()

    yield factory
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


@pytest.fixture
def sign_in(live_server):
    def login(page, username: str, password: str | None = None) -> None:
        _sign_in(page, live_server.url, username, password)

    return login
