"""How many event streams one account holds open at once, counted in Redis.

Every ``/stream`` takes a lease on a slot before it starts: a member of one sorted set per
account, scored with the moment the lease lapses (Redis's clock, so workers and hosts agree).
While the stream runs it renews its lease; when it ends it gives the slot back. A worker that
crashes cannot give its slots back: their leases lapse after ``STREAM_SLOT_LEASE_SECONDS``.
A stream whose lease has lapsed (its writes were held up for that long) ends at its next
renewal, and the browser reconnects like everyone else.

Every lease is also a member of one set for the whole channel (``open_key``): how many screens
are open, which sets how widely their re-fetches spread after an event
(webapp.events.publishing.spread_ms). With the cap switched off (a limit of 0) streams still
take an unlimited slot, so that they are counted.
"""

from __future__ import annotations

import logging
import time
import uuid

import redis

log = logging.getLogger(__name__)

UNLIMITED = 2**31 - 1

# KEYS[1] the account's set, KEYS[2] the channel's open streams; ARGV: limit, member, lease in ms.
# Returns 1 when the slot is taken.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
for i = 1, #KEYS do
  if i > 1 then redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now) end
  redis.call('ZADD', KEYS[i], now + tonumber(ARGV[3]), ARGV[2])
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[3]))
end
return 1
"""

# KEYS[1] the account's set, KEYS[2] the channel's open streams; ARGV: member, lease in ms.
# Returns 0 when the lease had lapsed.
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expires = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expires or tonumber(expires) <= now then
  for i = 1, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
  return 0
end
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2]))
end
return 1
"""


def slots_key(prefix: str, user_id) -> str:
    return f"{prefix}:streams:{user_id}"


def open_key(prefix: str) -> str:
    """Every open stream of the channel, whoever holds it (scored with its lease's end)."""
    return f"{prefix}:streams-open"


def count_open(client, prefix: str):
    """Ask how many streams of the channel hold a lease now (Redis's clock is not asked: this
    host's). On a pipeline the answer comes with its ``execute()``."""
    return client.zcount(open_key(prefix), int(time.time() * 1000), "+inf")


def open_streams(client: redis.Redis, prefix: str) -> int:
    return int(count_open(client, prefix))


class StreamSlot:
    """One stream's lease. ``renew_if_due`` is cheap between renewals; ``release`` is idempotent."""

    def __init__(self, client: redis.Redis, key: str, member: str, lease_seconds: float,
                 counted: str | None = None) -> None:
        self.client = client
        self.key = key
        self.keys = (key, counted) if counted else (key,)
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
        return bool(self.client.eval(_RENEW, len(self.keys), *self.keys, self.member, self.lease_ms))

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        try:
            pipe = self.client.pipeline(transaction=False)
            for key in self.keys:
                pipe.zrem(key, self.member)
            pipe.execute()
        except redis.RedisError as exc:  # the lease lapses on its own
            log.warning("live events: stream slot not released (%s); it lapses in %d s", exc, self.lease_ms // 1000)


def acquire(client: redis.Redis, key: str, *, limit: int, lease_seconds: float,
            counted: str | None = None) -> StreamSlot | None:
    """A slot of the account's ``limit``, or None when all are taken; also a member of ``counted``
    (``open_key``) when given. Raises redis.RedisError."""
    member = uuid.uuid4().hex
    keys = (key, counted) if counted else (key,)
    if not client.eval(_ACQUIRE, len(keys), *keys, limit, member, int(lease_seconds * 1000)):
        return None
    return StreamSlot(client, key, member, lease_seconds, counted)
