"""``GET /stream``: flask-sse's blueprint made fit for production.

flask-sse 1.0.0 publishes well but streams naively: anyone may listen, on any channel they
name; nothing is sent until the first event (so proxies and browsers wait for headers); a
client that went away is only noticed at the next event, holding its Redis connection until
then; every stream opens a fresh Redis client; ``Last-Event-ID`` is ignored. This subclass
keeps its ``publish`` and ``Message`` and replaces the streaming side.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import select
import socket
import time
from collections.abc import Callable, Iterator

import redis
from flask import current_app, request
from flask_login import current_user
from flask_sse import Message, ServerSentEventsBlueprint

from webapp.auth.roles import CAN_VIEW_ORDERS
from webapp.errors import problem
from webapp.events import display, redis_pool, slots
from webapp.events.publishing import replay_messages
from webapp.extensions import db
from webapp.paging import MAX_DB_ID

log = logging.getLogger(__name__)

# How often an idle stream looks at its client socket and at the server's shutdown flag.
POLL_SECONDS = 1.0
# What a quiet stream sends Redis on its subscription to hear that Redis still answers.
PING_TOKEN = "imaging-live-check"


class RedisSilent(redis.TimeoutError):
    """Redis did not answer a stream's PING in time (frozen, or the network is gone)."""

_stopping: Callable[[], bool] = lambda: False  # noqa: E731


def set_shutdown_check(check: Callable[[], bool]) -> None:
    """gunicorn's worker tells open streams to end when it shuts down (see gunicorn.conf.py)."""
    global _stopping
    _stopping = check


def _client_gone(sock: socket.socket | None) -> bool:
    """True once the browser closed its end (readable with EOF), without blocking."""
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


# Event ids are the schema's serial integers: at most 10 ASCII digits, no more than MAX_DB_ID.
_EVENT_ID = re.compile(r"[0-9]{1,10}")


def _last_event_id() -> int | None:
    """The header a reconnecting EventSource sends, else ``?last_event_id=`` (a page's cursor).

    Empty means absent; anything but an event id raises ValueError (answered 400)."""
    for value in (request.headers.get("Last-Event-ID"), request.args.get("last_event_id")):
        value = (value or "").strip()
        if not value:
            continue
        if not _EVENT_ID.fullmatch(value) or int(value) > MAX_DB_ID:
            raise ValueError(f"Last-Event-ID must be the id of an event (a whole number up to {MAX_DB_ID}).")
        return int(value)
    return None


@functools.lru_cache(maxsize=256)
def _decoded(raw: bytes) -> Message:
    """Every stream of a worker receives the same bytes: decode each published event once."""
    return _FormattedMessage(**json.loads(raw))


class _FormattedMessage(Message):
    """flask-sse's Message, formatted once (hundreds of streams write the same text)."""

    @functools.cached_property
    def text(self) -> str:
        return Message.__str__(self)

    def __str__(self) -> str:
        return self.text


def _comment(text: str) -> str:
    return f": {text}\n\n"


def _problem(status: int, title: str, detail: str, headers: dict | None = None):
    return problem(status, title, detail, headers=headers)


def _give_back(pubsub: redis.client.PubSub | None, slot: slots.StreamSlot | None) -> None:
    if pubsub is not None:
        pubsub.close()
    if slot is not None:
        slot.release()


class _AllSlotsTaken(Exception):
    """The account already holds as many streams as it may."""


class LiveEventsBlueprint(ServerSentEventsBlueprint):
    """flask-sse's blueprint with authentication, heartbeats, a pooled Redis and replay."""

    def redis_url(self) -> str | None:
        return current_app.config.get("SSE_REDIS_URL") or current_app.config.get("REDIS_URL")

    @property
    def redis(self) -> redis.Redis:
        """A client on this process's pool (flask-sse's ``publish`` goes through it)."""
        url = self.redis_url()
        if not url:
            raise KeyError("No REDIS_URL configured for live events.")
        return redis_pool.client(url, current_app.config["SSE_REDIS_MAX_CONNECTIONS"])

    @property
    def publisher(self) -> redis.Redis:
        """A client for PUBLISH whose connect and answer wait at most SSE_PUBLISH_TIMEOUT_SECONDS:
        publishing happens after the commit, inside the request, so a frozen Redis costs the
        request that long at most (the event is in the table; streams replay it from there)."""
        url = self.redis_url()
        if not url:
            raise KeyError("No REDIS_URL configured for live events.")
        config = current_app.config
        return redis_pool.client(url, config["SSE_REDIS_MAX_CONNECTIONS"],
                                 timeout=float(config.get("SSE_PUBLISH_TIMEOUT_SECONDS", 0.5)))

    def _check_seconds(self) -> float:
        return float(current_app.config.get("SSE_REDIS_CHECK_SECONDS", 2.0))

    @property
    def commands(self) -> redis.Redis:
        """A client for a stream's own commands (its slot), whose every answer waits at most
        SSE_REDIS_CHECK_SECONDS: a frozen Redis must not hold a stream longer than its PING would."""
        url = self.redis_url()
        if not url:
            raise KeyError("No REDIS_URL configured for live events.")
        return redis_pool.client(url, current_app.config["SSE_REDIS_MAX_CONNECTIONS"], timeout=self._check_seconds())

    def publish(self, data, type=None, id=None, retry=None, channel="sse"):
        """flask-sse's ``publish``, through :attr:`publisher`."""
        message = Message(data, type=type, id=id, retry=retry)
        return self.publisher.publish(channel=channel, message=json.dumps(message.to_dict()))

    def messages(
        self,
        channel: str = "sse",
        *,
        pubsub: redis.client.PubSub | None = None,
        heartbeat: float = 15.0,
        client_socket: socket.socket | None = None,
        max_seconds: float | None = None,
        check: float | None = None,
    ) -> Iterator[Message | None]:
        """Messages from ``channel``; ``None`` when a heartbeat is due. Ends when the client has
        gone, the server is stopping, the stream is old enough to re-authenticate, or Redis fails
        (raising ``redis.RedisError``). Always releases the subscription's connection.

        A subscription hears nothing from a frozen Redis, and nothing tells it so. When it has
        heard nothing for ``check`` seconds it sends a PING on the subscription (answered in the
        stream, without waiting); no answer ``check`` seconds later raises RedisSilent."""
        if pubsub is None:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(channel)
        started = last_write = heard = time.monotonic()
        pinged: float | None = None
        try:
            while True:
                now = time.monotonic()
                if max_seconds is not None and now - started >= max_seconds:
                    return
                wait = max(0.0, min(POLL_SECONDS, heartbeat - (now - last_write)))
                raw = pubsub.get_message(ignore_subscribe_messages=True, timeout=wait)
                if raw is not None:
                    heard, pinged = time.monotonic(), None
                    if raw.get("type") == "message":
                        last_write = heard
                        yield _decoded(raw["data"])
                        continue
                # Idle: look at the client and the server (not after every message: cheap under load).
                if _stopping() or _client_gone(client_socket):
                    return
                if check:
                    now = time.monotonic()
                    if pinged is not None and now - pinged >= check:
                        raise RedisSilent(f"no answer from Redis for {now - heard:.1f} s")
                    if pinged is None and now - heard >= check:
                        pubsub.ping(PING_TOKEN)
                        pinged = now
                if time.monotonic() - last_write >= heartbeat:
                    last_write = time.monotonic()
                    yield None
        finally:
            pubsub.close()

    def _stream_limit(self, full: bool) -> int:
        config = current_app.config
        return int(config["STREAM_MAX_PER_USER"] if full else config["STREAM_MAX_PER_DISPLAY"])

    def _lease_seconds(self) -> float:
        config = current_app.config
        # Idle streams renew at heartbeats: a lease must outlast a few of them.
        return max(float(config["STREAM_SLOT_LEASE_SECONDS"]), 3 * float(config["SSE_HEARTBEAT_SECONDS"]))

    def _subscribe(self, channel: str, limit: int) -> tuple[slots.StreamSlot | None, redis.client.PubSub | None]:
        """Take one of the account's stream slots, then subscribe (before the replay reads the table,
        so nothing falls between the two). (None, None) without Redis; raises _AllSlotsTaken."""
        if not self.redis_url():
            return None, None
        slot = pubsub = None
        try:
            # A limit of 0 switches the cap off; the stream still takes a slot, to be counted.
            key = slots.slots_key(channel, current_user.id)
            slot = slots.acquire(self.commands, key, limit=limit if limit > 0 else slots.UNLIMITED,
                                 lease_seconds=self._lease_seconds(), counted=slots.open_key(channel))
            if slot is None:
                raise _AllSlotsTaken
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(channel)
            return slot, pubsub
        except redis.RedisError as exc:
            log.warning("live events: Redis unavailable (%s); serving replay only", exc)
            _give_back(pubsub, slot)
            return None, None

    def stream(self):
        """Signed-in users only, a few streams each; one channel for everyone. Accounts that may
        not open orders (the wall display) get counts-level events only (webapp/events/display.py)."""
        if not current_user.is_authenticated:
            return _problem(401, "Unauthorized", "Sign in to receive live updates.")
        try:
            last_id = _last_event_id()
        except ValueError as exc:
            return _problem(400, "Bad Request", str(exc))
        config = current_app.config
        channel = config["SSE_CHANNEL"]
        heartbeat = float(config["SSE_HEARTBEAT_SECONDS"])
        full = current_user.role in CAN_VIEW_ORDERS
        limit = self._stream_limit(full)
        try:
            slot, pubsub = self._subscribe(channel, limit)
        except _AllSlotsTaken:
            return _problem(429, "Too Many Requests",
                            f"This account already has {limit} live update streams open; close a tab or window.",
                            headers={"Retry-After": str(max(1, math.ceil(heartbeat)))})
        try:
            replay = replay_messages(last_id, int(config["SSE_REPLAY_LIMIT"])) if last_id is not None else []
        except Exception:  # the database failed (answered 503): the slot and subscription go back now
            _give_back(pubsub, slot)
            raise
        # A stream may stay open for hours: give its database connection back now.
        db.session.remove()
        generate = self._generator(replay, pubsub, slot, message_text=str if full else display.counts_message)
        response = current_app.response_class(generate(), mimetype="text/event-stream")
        # Also when the server closes the response before the generator ever ran.
        if pubsub is not None:
            response.call_on_close(pubsub.close)
        if slot is not None:
            response.call_on_close(slot.release)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Accel-Buffering"] = "no"
        return response

    def _generator(self, replay, pubsub, slot, *, message_text):
        config = current_app.config
        check = self._check_seconds()
        channel = config["SSE_CHANNEL"]
        heartbeat = float(config["SSE_HEARTBEAT_SECONDS"])
        retry_ms = int(config["SSE_RETRY_MS"])
        max_seconds = float(config["SSE_MAX_STREAM_SECONDS"])
        client_socket = request.environ.get("gunicorn.socket")

        def generate() -> Iterator[str]:
            try:
                # Sent at once, so the browser has its headers and knows how soon to come back.
                yield f"retry: {retry_ms}\n" + _comment("connected")
                replayed = set()
                for message in replay:
                    if message.id is not None:
                        replayed.add(message.id)
                    if text := message_text(message):
                        yield text
                if pubsub is None:
                    # No Redis: the browser comes back after `retry` and gets what it missed then.
                    yield _comment("live updates unavailable; reconnect")
                    return
                opened, lapsed = time.monotonic(), False
                for message in self.messages(
                    channel, pubsub=pubsub, heartbeat=heartbeat, client_socket=client_socket, max_seconds=max_seconds,
                    check=check,
                ):
                    if message is None:
                        yield _comment("heartbeat")
                    elif message.id not in replayed and (text := message_text(message)):
                        yield text
                    if slot is not None and not slot.renew_if_due():
                        lapsed = True  # the stream was held up past its lease: come back like anyone else
                        break
                if lapsed or time.monotonic() - opened >= max_seconds:
                    # A planned end (to re-check the sign-in): come back at once, from the last id.
                    yield "retry: 300\n" + _comment("reconnect")
            except redis.RedisError as exc:
                # The client comes back with Last-Event-ID at once and is sent what it missed from
                # the table (replay_messages), whether Redis is back by then or not.
                log.warning("live events: Redis connection lost (%s); the client will reconnect", exc)
                yield "retry: 300\n" + _comment("reconnect")
            finally:
                _give_back(pubsub, slot)

        return generate
