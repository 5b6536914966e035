"""How many event streams one account holds open at once, counted in Redis.

Every ``/stream`` takes a lease on a slot before it starts: a member of one sorted set per
account, scored with the moment the lease lapses (Redis's clock, so workers and hosts agree).
While the stream runs it renews its lease; when it ends it gives the slot back. A worker that
crashes cannot give its slots back: their leases lapse after ``STREAM_SLOT_LEASE_SECONDS``.
A stream whose lease has lapsed (its writes were held up for that long) ends at its next
renewal, and the browser reconnects like everyone else.
"""

from __future__ import annotations

import logging
import time
import uuid

import redis

log = logging.getLogger(__name__)

# KEYS[1] the account's set; ARGV: limit, member, lease in ms. Returns 1 when the slot is taken.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""

# KEYS[1] the account's set; ARGV: member, lease in ms. Returns 0 when the lease had lapsed.
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expires = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expires or tonumber(expires) <= now then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""


def slots_key(prefix: str, user_id) -> str:
    return f"{prefix}:streams:{user_id}"


class StreamSlot:
    """One stream's lease. ``renew_if_due`` is cheap between renewals; ``release`` is idempotent."""

    def __init__(self, client: redis.Redis, key: str, member: str, lease_seconds: float) -> None:
        self.client = client
        self.key = key
        self.member = member
        self.lease_ms = int(lease_seconds * 1000)
        self.renew_every = lease_seconds / 3
        self.renewed_at = time.monotonic()
        self.released = False

    def renew_if_due(self) -> bool:
        """False once the lease has lapsed: the stream should end. Raises redis.RedisError."""
        if self.released or time.monotonic() - self.renewed_at < self.renew_every:
            return not self.released
        self.renewed_at = time.monotonic()
        return bool(self.client.eval(_RENEW, 1, self.key, self.member, self.lease_ms))

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        try:
            self.client.zrem(self.key, self.member)
        except redis.RedisError as exc:  # the lease lapses on its own
            log.warning("live events: stream slot not released (%s); it lapses in %d s", exc, self.lease_ms // 1000)


def acquire(client: redis.Redis, key: str, *, limit: int, lease_seconds: float) -> StreamSlot | None:
    """A slot of the account's ``limit``, or None when all are taken. Raises redis.RedisError."""
    member = uuid.uuid4().hex
    if not client.eval(_ACQUIRE, 1, key, limit, member, int(lease_seconds * 1000)):
        return None
    return StreamSlot(client, key, member, lease_seconds)
