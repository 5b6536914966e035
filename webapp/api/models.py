"""Tables of the API itself: the Idempotency-Key record of each POST that created something."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from webapp.db_types import UTCDateTime, utcnow
from webapp.extensions import db


class IdempotencyKey(db.Model):
    """One row per (user, endpoint, key): written in the same transaction as what the POST created."""

    __tablename__ = "api_idempotency_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    endpoint: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    # SHA-256 of the canonical JSON body: the same key with another body is refused.
    request_hash: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    status_code: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    __table_args__ = (UniqueConstraint("user_id", "endpoint", "key", name="uq_api_idempotency_keys_user_endpoint_key"),)
