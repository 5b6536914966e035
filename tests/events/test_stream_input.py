"""Crafted ``Last-Event-ID`` values on /stream answer 400, never 500."""

from __future__ import annotations

import pytest


def _as_header(value: str) -> str:
    """What the server sees: header bytes are read as Latin-1 (so "²" arrives as one byte, 0xB2)."""
    try:
        value.encode("latin-1")
        return value
    except UnicodeEncodeError:
        return value.encode().decode("latin-1")


@pytest.mark.sqlite_only
@pytest.mark.parametrize("value", ["²", "٣", "1" * 5000, "9" * 19, "-1", "1e3", "0x10", "12 34", "１２",
                                   "2147483648", "9223372036854775807"])  # past the schema's integer ids
def test_malformed_last_event_id_is_a_400(client, auth, value):
    auth.login("doctor")
    for headers, query in (({"Last-Event-ID": _as_header(value)}, {}), ({}, {"last_event_id": value})):
        response = client.get("/stream", headers=headers, query_string=query, buffered=False)
        try:
            assert response.status_code == 400, (value[:20], response.status_code)
            assert response.mimetype == "application/problem+json"
            assert "Last-Event-ID" in response.get_json()["detail"]
        finally:
            response.close()


@pytest.mark.sqlite_only
@pytest.mark.parametrize("value", ["0", " 42 ", "2147483647", ""])
def test_wellformed_or_empty_last_event_id_streams(client, auth, make_order, value):
    make_order("ordered")
    auth.login("doctor")
    response = client.get("/stream", headers={"Last-Event-ID": value}, buffered=False)
    try:
        assert response.status_code == 200
        assert next(iter(response.response)).decode().startswith("retry:")
    finally:
        response.close()
