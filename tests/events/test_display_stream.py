"""The wall display's account gets counts-level events only: no patient, visit or order identity."""

from __future__ import annotations

import json

import pytest

from webapp.extensions import db
from webapp.imaging import queries, services

DISPLAY_KEYS = {"event_id", "status", "from_status", "modality", "from_modality", "priority", "from_priority"}


def _read_events(response, count: int) -> tuple[str, list[tuple[str, int, dict]]]:
    text = ""
    chunks = iter(response.response)
    while _count(text) < count:
        text += next(chunks).decode()
    return text, _parse(text)


def _count(text: str) -> int:
    return len(_parse(text))


def _parse(text: str) -> list[tuple[str, int, dict]]:
    events = []
    for block in text.split("\n\n"):
        fields = dict(line.split(":", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if "data" in fields:
            events.append((fields.get("event"), int(fields["id"]), json.loads(fields["data"])))
    return events


def _identities(order) -> list[str]:
    return [str(order.id), str(order.patient_id), str(order.visit_id), order.accession_number, order.order_number]


@pytest.mark.sqlite_only
def test_display_stream_replays_and_streams_counts_only(app, client, auth, make_order, make_user):
    orders = [make_order("ordered", priority="stat"), make_order("scheduled", modality="CT", body_part="HEAD",
                                                                  procedure_code="70450")]
    technician = make_user("technician")
    auth.login("display")

    response = client.get("/stream", headers={"Last-Event-ID": "0"}, buffered=False)
    try:
        text, replayed = _read_events(response, 3)  # created, created, scheduled
        assert len(replayed) == 3
        assert all(kind == "order-changed" and set(data) == DISPLAY_KEYS for kind, _, data in replayed)
        assert [data["event_id"] for _, _, data in replayed] == [event_id for _, event_id, _ in replayed]
        assert {(d["status"], d["modality"], d["priority"]) for _, _, d in replayed} == {
            ("ordered", "XRAY", "stat"), ("ordered", "CT", "routine"), ("scheduled", "CT", "routine")}

        # A change made now reaches the wall as counts too.
        with app.app_context():
            current = queries.get_order(orders[1].id)
            services.start_order(db.session.merge(technician), current)
            db.session.commit()
        chunks = iter(response.response)
        while _count(text) < 4:
            text += next(chunks).decode()
        _, event_id, live = _parse(text)[3]
        assert live == {"event_id": event_id, "status": "in_progress", "from_status": "scheduled", "modality": "CT",
                            "from_modality": "CT", "priority": "routine", "from_priority": "routine",
                            "spread_ms": 250}, "counts, and how widely to spread the re-fetch (one screen open)"
    finally:
        response.close()
    for order in orders:
        for value in _identities(order):
            assert value not in text, f"the wall's stream carries {value}"
    assert "patient_id" not in text and "visit_id" not in text and "accession" not in text
    assert "Garcia" not in text and "Maria" not in text


@pytest.mark.sqlite_only
def test_staff_streams_keep_the_full_signal(app, client, auth, make_order):
    order = make_order("ordered")
    auth.login("doctor")
    response = client.get("/stream", headers={"Last-Event-ID": "0"}, buffered=False)
    try:
        _, events = _read_events(response, 1)
    finally:
        response.close()
    (_, _, data), = events
    assert data["accession_number"] == order.accession_number and data["patient_id"] == str(order.patient_id)
    assert data["priority"] == "routine"
