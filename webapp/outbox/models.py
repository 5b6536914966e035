"""The outbox: messages to other systems, written in the same transaction as the order change.

One row per message and receiver. ``state`` goes ``pending`` (never tried) → ``sent``, or
``failed`` (tried; tried again at ``next_attempt_at``) → ``sent``, or ``dead`` once
OUTBOX_MAX_ATTEMPTS deliveries failed (an admin may put it back to ``pending``). Ids come after
the order writers' lock (webapp.audit.locking), so an order's messages are in commit order.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.db_types import UTCDateTime, utcnow
from webapp.extensions import db

STATES = ("pending", "failed", "dead", "sent")
UNSENT = ("pending", "failed", "dead")


class OutboxMessage(db.Model):
    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("imaging_orders.id"))
    # Where it goes: "hl7" and the receiver's "host:port" (HL7_OUTBOUND when it was written).
    channel: Mapped[str] = mapped_column(String(16), default="hl7")
    destination: Mapped[str] = mapped_column(String(255))
    # What it is: the order's event that caused it, and the message ("ORM^O01 NW", "ORU^R01 F").
    event_type: Mapped[str] = mapped_column(String(24))
    order_version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    # The order as it was in that transaction; the message text is built from it when sent.
    payload: Mapped[dict] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(8), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    # A dispatcher's claim: nobody else sends the message before claimed_until (a claim not yet
    # being sent is free sooner when its dispatcher stopped beating, webapp.outbox.dispatcher).
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by the claimant, on its claim only, just before it sends; then only the lease frees it.
    sending_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_by: Mapped[str | None] = mapped_column(String(64))  # the dispatcher that delivered it

    order = relationship("ImagingOrder")

    __table_args__ = (
        CheckConstraint("state IN ('pending', 'failed', 'dead', 'sent')", name="state_valid"),
        # What the dispatcher looks at: unsent messages only (sent ones stay for the record).
        Index("ix_outbox_messages_unsent", "next_attempt_at", "id", postgresql_where=text("state <> 'sent'"),
              sqlite_where=text("state <> 'sent'")),
        # An order's earlier unsent message to the same receiver holds the later ones back.
        Index("ix_outbox_messages_order_destination", "order_id", "destination", "id"),
        Index("ix_outbox_messages_state", "state"),
    )


class OutboxAction(db.Model):
    """Who did what to a message by hand (an admin's retry of a dead message): append-only."""

    __tablename__ = "outbox_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox_messages.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The message's state and last error when the action was taken.
    previous_state: Mapped[str] = mapped_column(String(8))
    previous_error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
