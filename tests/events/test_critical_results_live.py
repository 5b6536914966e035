"""``critical-result`` events on /stream: after the commit, to full accounts; never to the wall."""

from __future__ import annotations

import json

import pytest

from webapp.extensions import db
from webapp.imaging import queries, services
from webapp.reporting import services as reporting


def _events(text: str) -> list[tuple[str | None, dict]]:
    found = []
    for block in text.split("\n\n"):
        fields = dict(line.split(":", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if "data" in fields:
            found.append((fields.get("event", "").strip() or None, json.loads(fields["data"])))
    return found


def _read_until(response, done) -> str:
    text, chunks = "", iter(response.response)
    while not done(_events(text)):
        text += next(chunks).decode()
    return text


def _signed_in(app, user):
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
    return client


@pytest.mark.sqlite_only
def test_critical_results_reach_staff_streams_and_never_the_wall(app, make_order, make_user):
    doctor, wall_user, radiologist = make_user("doctor"), make_user("display"), make_user("radiologist")
    order = make_order("completed", doctor=doctor)
    doctor_stream = _signed_in(app, doctor).get("/stream", buffered=False)
    wall_stream = _signed_in(app, wall_user).get("/stream", buffered=False)
    try:
        for response in (doctor_stream, wall_stream):
            assert next(iter(response.response)).decode().startswith("retry:")
        with app.app_context():
            current = queries.get_order(order.id, for_update=True)
            services.report_order(db.session.merge(radiologist), current, findings="Bleed.", impression="Bleed.",
                                  critical=True, critical_note="Acute subdural haematoma")
            db.session.commit()
        with app.app_context():
            result_id = reporting.critical.open_for_doctor(doctor.id)[0].id
            reporting.acknowledge(db.session.merge(doctor), result_id)
            db.session.commit()

        staff = _events(_read_until(doctor_stream, lambda e: sum(k == "critical-result" for k, _ in e) == 2))
        critical = [data for kind, data in staff if kind == "critical-result"]
        assert critical == [
            {"id": result_id, "order_id": str(order.id), "accession_number": order.accession_number,
             "doctor_id": str(doctor.id), "state": state, "escalated": False} for state in ("open", "acknowledged")]
        assert "Acute subdural" not in json.dumps(critical)  # no clinical text on the channel

        # The wall gets the two order changes (report, acknowledge) as counts, published after
        # each critical-result event, and nothing else.
        wall_text = _read_until(wall_stream, lambda e: len(e) >= 2)
        wall = _events(wall_text)
        assert [kind for kind, _ in wall] == ["order-changed", "order-changed"]
        assert "critical-result" not in wall_text and str(doctor.id) not in wall_text
    finally:
        doctor_stream.close()
        wall_stream.close()


@pytest.mark.sqlite_only
def test_nothing_is_published_when_the_transaction_rolls_back(app, make_order, make_user, monkeypatch):
    from webapp.reporting import live

    doctor, radiologist = make_user("doctor"), make_user("radiologist")
    order = make_order("reported", doctor=doctor)
    published = []
    monkeypatch.setattr("webapp.events.publishing.publish_signals",
                        lambda signals, event_type="order-changed": published.append((event_type, signals)))
    with app.app_context():
        current = queries.get_order(order.id, for_update=True)
        reporting.add_addendum(db.session.merge(radiologist), current, "More.", critical_flag=True,
                               critical_note="Missed")
        db.session.rollback()
        assert live.PENDING_KEY not in db.session.info
        current = queries.get_order(order.id, for_update=True)
        reporting.add_addendum(db.session.merge(radiologist), current, "More.", critical_flag=True,
                               critical_note="Missed")
        db.session.commit()
    # One call (one round trip to Redis) for everything the commit publishes.
    assert len(published) == 1 and published[0][0] == ["order-changed", "critical-result"]
    assert published[0][1][1]["state"] == "open"
