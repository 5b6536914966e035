"""Swagger UI at /api/docs in headless Chromium: it loads from this server alone and lists every endpoint."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from tests.api.operations import EXPECTED_OPERATIONS

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]


def test_swagger_ui_lists_every_endpoint_offline(chromium, live_server, bearer):
    token = bearer("doctor")["Authorization"].split(" ", 1)[1]
    requested: list[str] = []
    errors: list[str] = []
    with chromium(CHROMIUM_ARGS) as browser:
        try:
            page = browser.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{live_server.url}/api/docs")
            page.wait_for_selector(".opblock", timeout=30_000)
            shown = set()
            for block in page.locator(".opblock").all():
                method = block.locator(".opblock-summary-method").inner_text().strip().upper()
                path = block.locator(".opblock-summary-path").get_attribute("data-path")
                shown.add(f"{method} {path}")
            assert shown == EXPECTED_OPERATIONS

            # The Authorize button takes a bearer token, and "Try it out" then calls the API with it.
            page.click("button.authorize")
            page.fill(".modal-ux input[type=text], .modal-ux input[type=password]", token)
            page.click(".modal-ux button.authorize")
            page.click(".modal-ux button.close-modal")
            modalities = page.locator(".opblock-get:has([data-path='/api/v1/imaging/modalities'])")
            modalities.locator(".opblock-summary").click()
            modalities.locator("button.try-out__btn").click()
            with page.expect_response(lambda r: r.url.endswith("/api/v1/imaging/modalities")) as answer:
                modalities.locator("button.execute").click()
            assert answer.value.status == 200
            assert answer.value.request.headers["authorization"] == f"Bearer {token}"
            assert "XRAY" in answer.value.text()
        finally:
            browser.close()
    assert requested, "the page made no request at all"
    outside = [url for url in requested if urlparse(url).hostname != "127.0.0.1" and not url.startswith("data:")]
    assert outside == []
    assert errors == []
