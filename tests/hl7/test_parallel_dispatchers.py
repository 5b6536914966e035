"""Several dispatchers at once on PostgreSQL (FOR UPDATE SKIP LOCKED): no message twice, none out of order.

Deterministic, in the worst case rather than by chance: the heartbeat threads do not write
(``stalled_heartbeats``, as on a loaded machine, where this test once got 161-165 of 160 messages:
a claim made before its dispatcher's first beat looked abandoned to the others), and the first
message's answer is held until the other two dispatchers have each done a round, so their rounds
overlap with a send in flight.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict

import pytest
from sqlalchemy import select

from tests.conftest import _later_today, with_schema
from tests.hl7.conftest import outbox_rows, wait_until
from tests.hl7.peers import field
from webapp.extensions import db, writing


@pytest.fixture(scope="module")
def database_url(postgres_database):
    """Several dispatchers at once is a PostgreSQL set-up (SQLite has one writer at a time)."""
    return with_schema(postgres_database)


ORDERS = 20


@pytest.fixture
def outbox_settings(outbox_settings):
    """An answer may take long on a loaded machine: not a lost ACK (that resend is tested elsewhere)."""
    return {**outbox_settings, "HL7_TIMEOUT_SECONDS": 20.0}


@pytest.fixture
def orders_with_history(app, make_user, make_visit):
    """ORDERS orders, each with 4 messages (NW, SC, SC, SC) written in separate transactions."""
    from webapp.auth.models import User
    from webapp.imaging import services
    from webapp.imaging.models import ImagingOrder

    doctor, scheduler, technician = make_user("doctor"), make_user("scheduler"), make_user("technician")
    visit = make_visit()
    ids = []
    with app.app_context(), writing():
        for _ in range(ORDERS):
            order = services.create_order(db.session.get(User, doctor.id), patient_id=visit.patient_id,
                                          visit_id=visit.id, modality="XRAY", body_part="CHEST",
                                          procedure_code="71046", clinical_indication="Cough")
            db.session.commit()
            ids.append(order.id)
        for step in ("schedule", "start", "complete"):
            for order_id in ids:
                order = db.session.get(ImagingOrder, order_id)
                who = {"schedule": scheduler, "start": technician, "complete": technician}[step]
                # Booked later today, also after 23:00 (issue 26 #19).
                values = {"scheduled_date": _later_today()} if step == "schedule" else {}
                if step == "complete":
                    values["number_of_images"] = 2
                services.apply_action(db.session.get(User, who.id), order, step, **values)
                db.session.commit()
        accessions = [db.session.get(ImagingOrder, i).accession_number for i in ids]
    return accessions


def test_three_dispatchers_never_send_a_message_twice_nor_out_of_order(
        app, receiver, orders_with_history, run_dispatchers, rounds, stalled_heartbeats):
    total = ORDERS * 4
    in_flight, overlaps, lock = Counter(), [], threading.Lock()
    original = receiver._handler

    def slow_handler(peer):  # each message takes a moment: the dispatchers' rounds overlap
        handler_class = original()

        class Slow(handler_class):
            def reply(self):
                control_id = self.incoming_message.split("\r")[0].split("|")[9]
                with lock:
                    in_flight[control_id] += 1
                    if in_flight[control_id] > 1:
                        overlaps.append(control_id)
                time.sleep(0.003)
                try:
                    return super().reply()
                finally:
                    with lock:
                        in_flight[control_id] -= 1
        return Slow

    receiver.stop()
    receiver._handler = lambda: slow_handler(receiver)
    receiver.start()
    receiver.hold()
    first = run_dispatchers(1, batch_size=10)[0]
    try:
        assert receiver.holding.wait(20)  # the first is sending its first message
        dispatchers = [first, *run_dispatchers(2, batch_size=10)]
        assert wait_until(lambda: all(rounds[d.name] >= 2 for d in dispatchers[1:]))  # and the others looked
    finally:
        receiver.release.set()
    assert wait_until(lambda: all(row.state == "sent" for row in outbox_rows(app)), 90)
    finished = {d.name: rounds[d.name] for d in dispatchers}
    assert wait_until(lambda: all(rounds[name] > count for name, count in finished.items()))  # rounds over
    assert len(receiver.received) == total, Counter(field(m, "MSH", 10) for m in receiver.received).most_common(3)
    control_ids = [field(m, "MSH", 10) for m in receiver.received]
    assert len(set(control_ids)) == total and not overlaps, "no message was sent twice"
    by_order = defaultdict(list)
    for message in receiver.received:
        by_order[field(message, "ORC", 3)].append(f"{field(message, 'ORC', 1)} {field(message, 'ORC', 5)}")
    assert set(by_order) == set(orders_with_history)
    assert all(codes == ["NW ", "SC SC", "SC IP", "SC CM"] for codes in by_order.values()), by_order
    rows = outbox_rows(app)
    assert all(row.state == "sent" and row.attempts == 1 for row in rows)
    senders = Counter(row.sent_by for row in rows)
    assert set(senders) <= {d.name for d in dispatchers} and len(senders) >= 2, senders  # they shared the work
    with app.app_context():
        from webapp.outbox.models import OutboxMessage

        assert db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.claimed_by.is_not(None))) is None
