"""Fixtures of the web page tests: CSRF off for plain form posts (one module tests it on)."""

from __future__ import annotations

import pytest

HX = {"HX-Request": "true"}


@pytest.fixture
def app_config(database_url):
    return {"WTF_CSRF_ENABLED": False}


def hx(target: str | None = None) -> dict[str, str]:
    """Headers of an htmx request aimed at the element with id ``target``."""
    return HX | ({"HX-Target": target} if target else {})
