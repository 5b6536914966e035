"""Delivering the outbox (``flask outbox run``): per order in commit order, at least once.

A round: claim due messages (short transaction), build and send them (no transaction open),
record the outcomes (short transaction).

* Order: a message is due only when every earlier message of its order to the same receiver has
  been delivered, so a later message never overtakes an earlier one (nor a dead one: it waits
  until an admin has retried that, see /admin/outbox). Ids are taken after the order writers'
  lock, so id order is commit order.
* Several dispatchers: the claim selects with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (each row
  goes to one dispatcher; on SQLite writers queue anyway) and marks the rows with the dispatcher's
  name until ``claimed_until`` (the lease). A dispatcher beats (``webapp.heartbeats``) before its
  first claim, then a thread beats every 5 s; the claims of one that stopped beating for 15 s
  (``kill -9``) are free again before their lease runs out, but only those it had not started
  to send.
* No message sent by two dispatchers: just before each send the claimant marks the row
  ``sending_since`` and renews its lease, in one conditional update that matches only while the
  row is still its own (its name is the fencing token). A row taken over meanwhile (the
  claimant looked dead: a heartbeat late or stalled, the clock stepped) is skipped: the
  dispatcher that took it sends it. A row being sent is free again only when its lease (longer
  than any send, ``MllpClient``) runs out. What remains is at least once, not a race: a send
  whose answer is lost (timeout, connection closed, the dispatcher killed before recording) is
  sent again later, with the same MSH-10 (the row id), for the receiver to drop.
* Channels: ``hl7`` (MLLP, webapp.hl7) and the escalation's ``webhook`` and ``email``
  (webapp.outbox.notify); each round first escalates the critical results past
  CRITICAL_ACK_MINUTES (webapp.reporting.escalation), whose rows are then sent in that round.
* Failures: no connection, no answer in time, an ACK other than AA/CA (HL7), an answer other than
  2xx (webhook), a refusal by the SMTP server. The message is tried
  again after a wait that doubles (OUTBOX_RETRY_SECONDS up to OUTBOX_RETRY_MAX_SECONDS); after
  OUTBOX_MAX_ATTEMPTS it is dead, with its last error.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import aliased

from webapp import heartbeats
from webapp.db_types import utcnow
from webapp.extensions import db, writing
from webapp.hl7.ack import Rejected, check_ack
from webapp.hl7.listener import header_of
from webapp.hl7.messages import build_message
from webapp.hl7.mllp import MllpClient, MllpError
from webapp.hl7.snapshot import with_ehr_numbers
from webapp.outbox import notify
from webapp.outbox.models import OutboxMessage
from webapp.reporting.escalation import escalate_due

log = logging.getLogger(__name__)
ROLE = "outbox dispatcher"
ESCALATION_EVERY = 1.0  # seconds between two looks for critical results to escalate


@dataclass
class Claimed:
    id: int
    channel: str
    destination: str
    kind: str
    payload: dict
    text: str | None = None
    error: str | None = None  # None once delivered
    sent: bool = False
    tried: bool = False
    lost: bool = False  # taken over by another dispatcher before this one started sending it


def due_messages(now, limit: int, *, lock: bool = True):
    """The statement selecting due messages: heads of their order's queue per receiver, oldest first
    (``lock``: claimed rows locked, rows another dispatcher is claiming skipped)."""
    message, earlier = OutboxMessage, aliased(OutboxMessage)
    held_back = exists().where(
        earlier.order_id == message.order_id, earlier.destination == message.destination,
        earlier.id < message.id, earlier.state != "sent",
    )
    statement = (
        select(message)
        .where(
            message.state.in_(("pending", "failed")), message.next_attempt_at <= now,
            or_(message.claimed_until.is_(None), message.claimed_until < now,
                and_(message.sending_since.is_(None), message.claimed_by.not_in(heartbeats.alive_instances(now)))),
            ~held_back,
        )
        .order_by(message.id)
        .limit(limit)
    )
    return statement.with_for_update(skip_locked=True, of=message) if lock else statement


def retry_delay(attempts: int, first: float, longest: float) -> float:
    return min(first * (2 ** max(attempts - 1, 0)), longest)


class Dispatcher:
    def __init__(self, app: Flask, *, name: str | None = None, batch_size: int = 100,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.app = app
        self.clock = clock  # what time it is for the escalation of critical results (tests move it)
        self.next_escalation = 0.0  # monotonic: escalations are looked for at most once per ESCALATION_EVERY
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.batch_size = batch_size
        self.timeout = float(app.config["HL7_TIMEOUT_SECONDS"])
        # Longer than any send (MllpClient.send: at most two exchanges of connect, send and answer,
        # each within the timeout), renewed when a send starts: a row being sent is not taken over.
        self.lease = timedelta(seconds=max(60.0, 6 * self.timeout + 30))
        self.clients: dict[str, MllpClient] = {}
        self.beating: threading.Thread | None = None
        self.beaten = False  # a beat recorded before the first claim (the thread's first may come later)

    # ------------------------------------------------------------------ the three steps of a round

    def claim(self) -> list[Claimed]:
        """Take up to batch_size due messages for lease seconds (committed), with their texts built."""
        if self.beating is None or not self.beaten:
            # One round at a time (run_once), or the first claim: beat here first. A claim committed
            # before its claimant's first beat looked abandoned, and the others took it over.
            heartbeats.beat(ROLE, self.name)
            self.beaten = True
        now = utcnow()
        # A read first: an idle dispatcher takes no write lock (SQLite's is the whole database).
        nothing_due = db.session.scalar(due_messages(now, 1, lock=False).with_only_columns(OutboxMessage.id)) is None
        db.session.rollback()
        if nothing_due:
            return []
        with writing():
            rows = db.session.scalars(due_messages(now, self.batch_size)).all()
            claimed = [Claimed(row.id, row.channel, row.destination, row.kind, row.payload) for row in rows]
            if claimed:
                db.session.execute(
                    update(OutboxMessage).where(OutboxMessage.id.in_([c.id for c in claimed]))
                    .values(claimed_by=self.name, claimed_until=now + self.lease, sending_since=None)
                )
            db.session.commit()
        if claimed:
            snapshots = with_ehr_numbers(db.session, {c.id: c.payload for c in claimed if c.channel == "hl7"})
            db.session.rollback()  # end the read
            header = header_of(self.app)
            for item in claimed:
                try:
                    if item.channel == "hl7":
                        item.text = build_message(item.kind, snapshots[item.id], str(item.id), header)
                    else:
                        item.text = notify.build(item.channel, item.payload, item.id, self.app.config["SMTP_FROM"])
                except Exception as exc:  # a snapshot this version cannot read: kept, reported, retried
                    item.error = f"cannot build the message: {type(exc).__name__}: {exc}"
        return claimed

    def start_sending(self, item: Claimed) -> bool:
        """Mark ``item`` as being sent and renew its lease, if this dispatcher still holds it (committed).

        False when another dispatcher took it over (this one looked dead to it): that one sends it.
        """
        now = utcnow()
        with writing():
            held = db.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == item.id, OutboxMessage.claimed_by == self.name,
                       OutboxMessage.state.in_(("pending", "failed")))
                .values(sending_since=now, claimed_until=now + self.lease)
            ).rowcount
            db.session.commit()
        return held == 1

    def deliver(self, claimed: list[Claimed]) -> None:
        """Send each built message still held, in id order per receiver; one receiver down fails its rest at once."""
        down: dict[str, str] = {}
        for item in claimed:
            if item.text is None:
                continue
            if item.destination in down:
                item.error, item.tried = down[item.destination], True
                continue
            if not self.start_sending(item):
                item.lost = True
                continue
            item.tried = True
            if item.channel != "hl7":
                try:
                    notify.send(item.channel, item.payload, item.text, item.id, self.timeout)
                except notify.DeliveryError as exc:
                    item.error = str(exc)
                    down[item.destination] = item.error
                else:
                    item.sent, item.error = True, None
                continue
            client = self.clients.setdefault(item.destination, MllpClient(item.destination, self.timeout))
            try:
                check_ack(client.send(item.text), str(item.id))
            except MllpError as exc:
                item.error = str(exc)
                down[item.destination] = item.error
            except Rejected as exc:
                item.error = f"{item.destination} answered {exc}"
            else:
                item.sent, item.error = True, None

    def record(self, claimed: list[Claimed]) -> None:
        """Sent, failed (retried later), dead, or released untried; only rows this dispatcher still holds."""
        config = self.app.config
        now = utcnow()
        with writing():
            rows = {row.id: row for row in db.session.scalars(
                select(OutboxMessage).where(OutboxMessage.id.in_([c.id for c in claimed]),
                                            OutboxMessage.claimed_by == self.name)
            )}
            for item in claimed:
                row = rows.get(item.id)
                if row is None:
                    if item.sent:  # only when the clock stepped past the lease during the send
                        log.error("outbox message %s was delivered to %s after its lease ran out; another "
                                  "dispatcher may send it again (same MSH-10)", item.id, item.destination)
                    continue
                row.claimed_by, row.claimed_until, row.sending_since = None, None, None
                if item.sent:
                    row.state, row.sent_at, row.sent_by = "sent", now, self.name
                    row.attempts, row.last_error = row.attempts + 1, None
                elif item.tried or item.error:
                    row.attempts += 1
                    row.last_error = (item.error or "failed")[:2000]
                    dead = row.attempts >= config["OUTBOX_MAX_ATTEMPTS"]
                    row.state = "dead" if dead else "failed"
                    row.next_attempt_at = now + timedelta(seconds=retry_delay(
                        row.attempts, config["OUTBOX_RETRY_SECONDS"], config["OUTBOX_RETRY_MAX_SECONDS"]))
                    if dead:
                        log.error("outbox message %s to %s is dead after %d attempts: %s",
                                  row.id, row.destination, row.attempts, row.last_error)
            db.session.commit()

    # ------------------------------------------------------------------ running

    def run_once(self) -> int:
        """One round; how many messages it claimed."""
        started = time.monotonic()
        with self.app.app_context():
            if started >= self.next_escalation:
                self.next_escalation = started + ESCALATION_EVERY
                escalate_due(self.clock())
            claimed = self.claim()
            if not claimed:
                return 0
            try:
                self.deliver(claimed)
            finally:
                self.record(claimed)
        sent, lost = sum(item.sent for item in claimed), sum(item.lost for item in claimed)
        if lost:
            log.warning("outbox: %d of the %d messages %s claimed were taken over before it sent them (it "
                        "looked dead to another dispatcher, which sends them)", lost, len(claimed), self.name)
        if sent + lost != len(claimed):
            log.info("outbox: %d of %d messages delivered", sent, len(claimed))
        return len(claimed)

    def run(self, stop: threading.Event) -> None:
        """Rounds until ``stop`` is set; waits OUTBOX_POLL_SECONDS when there was nothing to do."""
        poll = float(self.app.config["OUTBOX_POLL_SECONDS"])
        self.beating = heartbeats.keep_beating(self.app, ROLE, self.name, stop)
        try:
            while not stop.is_set():
                try:
                    busy = self.run_once()
                except SQLAlchemyError as exc:
                    log.warning("outbox: database unavailable (%s); trying again", type(exc).__name__)
                    self._recover()
                    stop.wait(max(poll, 1.0))
                    continue
                except Exception:  # never die silently: the messages stay queued for the next round
                    log.exception("outbox: round failed; trying again")
                    self._recover()
                    stop.wait(max(poll, 1.0))
                    continue
                if not busy:
                    stop.wait(poll)
        finally:
            self.close()
            self.beating.join(2)  # its row is removed: a clean stop is not a death

    def _recover(self) -> None:
        with self.app.app_context():
            db.session.rollback()
        self.close()

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
        self.clients.clear()
