"""``Idempotency-Key`` on POST: the same key and body give the same record, never a second one.

The key row is inserted in the same transaction as the record it stands for, before the
record is created. A concurrent request with the same key blocks on the unique index
(PostgreSQL) or on the write lock (SQLite, BEGIN IMMEDIATE) until the first commits, then
finds the row and answers with the same record. A failed request rolls its key back with
everything else, so it can be retried with the same key. Keys are kept 24 hours.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from webapp.api.errors import ApiError
from webapp.api.models import IdempotencyKey
from webapp.api.security import api_user
from webapp.auth.models import User
from webapp.db_types import utcnow
from webapp.extensions import db

KEEP_FOR = timedelta(hours=24)
PURGE_BATCH = 500


@dataclass
class Claim:
    """The outcome of presenting a key: a replay of an earlier answer, or a fresh row to fill."""

    replay_resource_id: uuid.UUID | None = None
    replay_status: int | None = None
    row: IdempotencyKey | None = None

    @property
    def is_replay(self) -> bool:
        return self.replay_resource_id is not None

    def record(self, resource_id: uuid.UUID, status: int) -> None:
        """Say what the POST created (call before the commit)."""
        if self.row is not None:
            self.row.resource_id = resource_id
            self.row.status_code = status
            db.session.flush()


def body_digest(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _purge_expired(cutoff) -> None:
    # SKIP LOCKED: concurrent purges never wait on (or deadlock with) each other on PostgreSQL.
    expired = (
        select(IdempotencyKey.id).where(IdempotencyKey.created_at < cutoff)
        .limit(PURGE_BATCH).with_for_update(skip_locked=True)
    )
    ids = list(db.session.scalars(expired))
    if ids:
        db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.id.in_(ids)))


def _existing(user: User, endpoint: str, key: str, cutoff) -> IdempotencyKey | None:
    return db.session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.user_id == user.id, IdempotencyKey.endpoint == endpoint,
            IdempotencyKey.key == key, IdempotencyKey.created_at >= cutoff,
        )
    )


def _replay_or_refuse(row: IdempotencyKey, digest: str) -> Claim:
    if row.request_hash != digest:
        raise ApiError(422, "Idempotency-Key reused", "This Idempotency-Key was used with another request body.",
                       kind="idempotency-key-reused", errors={"Idempotency-Key": "Used with another request body."})
    return Claim(replay_resource_id=row.resource_id, replay_status=row.status_code)


def claim(user: User, key: str | None, payload: Any) -> Claim:
    """Present the request's key (None: no key, nothing to do)."""
    if key is None:
        return Claim()
    endpoint = f"{request.method} {request.url_rule.rule if request.url_rule else request.path}"[:64]
    digest = body_digest(payload)
    now = utcnow()
    cutoff = now - KEEP_FOR
    _purge_expired(cutoff)
    row = _existing(user, endpoint, key, cutoff)
    if row is not None:
        return _replay_or_refuse(row, digest)
    row = IdempotencyKey(user_id=user.id, endpoint=endpoint, key=key, request_hash=digest,
                         resource_id=uuid.UUID(int=0), status_code=0, created_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(row)
            db.session.flush()
    except IntegrityError:
        # Another request with this key committed while this one waited on the unique index.
        row = _existing(user, endpoint, key, cutoff)
        if row is None:
            raise ApiError(409, "Conflict", "A request with this Idempotency-Key is still being processed; retry.",
                           kind="conflict") from None
        return _replay_or_refuse(row, digest)
    return Claim(row=row)


def create_once(
    idempotency_key: str | None, create: Callable[[], Any], *, load: Callable[[uuid.UUID], Any],
    respond: Callable[[Any, int, dict], Any], commit: Callable[[], None] | None = None,
):
    """Every POST that creates a record: claim the key; a repeat answers with what the first request
    created (its status, its ``Location``, ``Idempotent-Replayed``); else create, record the key, commit, and answer
    201 with the new record's ``Location`` (under the collection it was posted to).
    ``respond(record, status, headers)`` builds the answer."""
    key = claim(api_user(), idempotency_key, request.get_json())
    if key.is_replay:
        record = load(key.replay_resource_id)
        return respond(record, key.replay_status, {"Location": f"{request.path}/{record.id}",
                                                   "Idempotent-Replayed": "true"})
    record = create()
    key.record(record.id, 201)
    (commit or db.session.commit)()
    return respond(record, 201, {"Location": f"{request.path}/{record.id}"})
