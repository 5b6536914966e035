"""`make bench` scenario 5 measures something: every published event reaches every stream.

Issue 26, item 11: its stream account was the display role, whose stream carries counts-level
events only (no payload to time), so 0 of 600 events arrived and the table said FAIL.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.sqlite_only


def test_scenario_5_receives_every_event(tmp_path):
    from bench import live_events

    rows = live_events.run(clients=(3,), messages=5)
    data = rows[0]["data"]["app"]
    assert data["n"] == data["expected"] == 15, rows[0]["scenario"]
    assert rows[0]["result"] == "pass"
