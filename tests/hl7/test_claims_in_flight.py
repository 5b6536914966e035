"""No message sent by two dispatchers, even when the one sending it looks dead to the other (its
first heartbeat not written yet, its heartbeat stalled, the clock stepped past the heartbeat's
15 s); a message whose ACK was lost is sent again, the same text with the same MSH-10.

Deterministic: the receiver holds the first message's answer (a slow send in flight) while the
second dispatcher looks, for as many rounds as it takes, and the heartbeat threads do not write
(``stalled_heartbeats``), so nothing refreshes the first one's heartbeat by chance.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import update

from tests.hl7.conftest import outbox_rows, wait_until
from tests.hl7.peers import field
from webapp import heartbeats
from webapp.db_types import utcnow
from webapp.extensions import db, writing


@pytest.mark.parametrize("looks_dead", ["first beat late", "heartbeat stalled", "clock stepped"])
def test_a_message_being_sent_is_not_sent_again_by_another_dispatcher(
        app, receiver, make_order, run_dispatchers, rounds, stalled_heartbeats, looks_dead):
    # Each dispatcher's only beat is its own before its first claim: nothing refreshes it by chance.
    make_order("ordered"), make_order("ordered")  # two orders: one message each, both due
    receiver.hold()
    sender = run_dispatchers()[0]
    assert receiver.holding.wait(20)  # it claimed both and is sending the first: no answer yet
    traveller = None
    if looks_dead == "heartbeat stalled":
        with app.app_context(), writing():
            db.session.execute(update(heartbeats.ProcessHeartbeat)
                               .where(heartbeats.ProcessHeartbeat.instance == sender.name)
                               .values(beat_at=utcnow() - timedelta(seconds=heartbeats.STALE_SECONDS + 5)))
            db.session.commit()
    elif looks_dead == "clock stepped":
        traveller = time_machine.travel(utcnow() + timedelta(seconds=heartbeats.STALE_SECONDS + 5), tick=True)
        traveller.start()
    try:
        other = run_dispatchers()[0]
        assert wait_until(lambda: rounds[other.name] >= 3)  # it looked, and sent what it took, while the first waits
        receiver.release.set()
        assert wait_until(lambda: [row.state for row in outbox_rows(app)] == ["sent", "sent"])
        assert wait_until(lambda: rounds[sender.name] >= 2)  # the sender's round is over (recorded)
    finally:
        receiver.release.set()
        if traveller is not None:
            traveller.stop()
    rows = outbox_rows(app)
    assert Counter(field(m, "MSH", 10) for m in receiver.received) == {str(row.id): 1 for row in rows}, \
        "each message was sent once"
    # The message being sent stays the sender's; one it had claimed but not started is taken over
    # when it looks dead (then the sender skips it), not when it only beat late.
    taken_over = looks_dead != "first beat late"
    assert [row.sent_by for row in rows] == [sender.name, other.name if taken_over else sender.name]
    assert all(row.attempts == 1 and row.claimed_by is None and row.sending_since is None for row in rows)


def test_a_message_whose_ack_was_lost_is_sent_again_with_the_same_control_id(
        app, receiver, make_order, run_dispatchers):
    receiver.drop_answers(1)  # taken, but the connection closes before the ACK: a lost ACK
    make_order("ordered")
    run_dispatchers()
    assert wait_until(lambda: [row.state for row in outbox_rows(app)] == ["sent"])
    row = outbox_rows(app)[0]
    assert row.attempts == 2
    first, again = receiver.received
    assert first == again and field(again, "MSH", 10) == str(row.id)  # the receiver can drop the repeat


def test_a_message_being_sent_is_free_again_only_when_its_lease_runs_out(app, make_order):
    from webapp.outbox.dispatcher import due_messages
    from webapp.outbox.models import OutboxMessage

    order = make_order("ordered")
    now = utcnow()
    with app.app_context(), writing():
        claimed = dict(order_id=order.id, event_type="create", order_version=1, kind="ORM^O01 NW", payload={},
                       claimed_by="ghost:1:abc", claimed_until=now + timedelta(seconds=90))
        # (two receivers: neither holds the other back)
        waiting = OutboxMessage(**claimed, destination="127.0.0.1:1")
        sending = OutboxMessage(**claimed, destination="127.0.0.1:2", sending_since=now)
        db.session.add_all([waiting, sending])
        heartbeats.beat("outbox dispatcher", "ghost:1:abc", now=now)
        db.session.commit()

        def due(at):
            return set(db.session.scalars(due_messages(at, 100, lock=False).with_only_columns(OutboxMessage.id)))

        assert not {waiting.id, sending.id} & due(now + timedelta(seconds=1))  # its claimant is alive
        stopped_beating = due(now + timedelta(seconds=heartbeats.STALE_SECONDS + 1))
        assert waiting.id in stopped_beating and sending.id not in stopped_beating  # it may be mid-send
        assert sending.id in due(now + timedelta(seconds=91))  # lease over: sent again, same MSH-10
