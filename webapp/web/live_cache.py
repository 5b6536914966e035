"""Render once per view: identical live screens share one render of a region.

When an order changes, every open screen that shows it re-fetches its region (static/live.js).
Twenty tablets on the same worklist, or three walls, asked the workers for twenty identical
renders of the same data. Here a live region's fragment (an htmx GET of the dashboard, the wall,
the tablet's worklist, the order list) is rendered once per **(view, variant, version)** and kept
in Redis for a short time; every other identical screen gets that HTML, and a browser that already
holds it gets ``304 Not Modified`` (its ``If-None-Match`` matches the region's ``ETag``).

* **view**: the endpoint and the block (``HX-Target``) it renders;
* **variant**: what can make two viewers' fragments differ: the viewer's role (the actions a
  role may take, and the counts-only display role), the request's path and query (filters,
  station, day); nothing in these fragments depends on the user beyond that (tests check it);
* **version**: the live **generation**, a Redis counter the publisher increments in the same
  round trip as it publishes an event (``webapp.events.publishing.publish_signals``), the
  ``order_events`` head id (read from the database after the generation and before the region's
  own queries, from a snapshot no older than the generation: ``_fresh_snapshot``), and the
  minute (regions show waiting times and "now"). The generation covers what the head id cannot:
  on PostgreSQL an event with a lower id can commit after a higher one, and a change that
  writes no order event (a claim) moves only the generation; their re-fetches must not meet the
  older render. An entry rendered under another generation is not used.

Every viewer still goes through the view's role check, and every viewer's read is logged
(``record_read`` with the patients the cached region shows, also for a 304); the renderer stores
those patients once as a set, and each viewer's access-log row names the set
(webapp.audit.access.patient_set_id). The CSRF token in a
region's forms is the viewer's own: the region is rendered with a placeholder, sent as it is with
an ``X-CSRF-Hole`` header naming it, and static/live.js puts in the token of the viewer's page
(the one its htmx requests send) before the swap. So every viewer of a version is sent the same
bytes, encoded once per worker, and gzip-compressed once when the browser accepts it (a 340 KB
worklist is about 25 KB). Entries live ``LIVE_RENDER_CACHE_SECONDS`` (30; ``0`` turns the cache
off); changes that publish nothing (a patient's name corrected by ADT) show on the next render,
at the latest after that time. When Redis is unreachable, regions are rendered per request as before.

Concurrent misses of one key render once: in a process, later requests wait for the first; across
processes, one holds a short Redis lock and the others wait for its entry (at most
``_WAIT_SECONDS``, then they render themselves).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import current_app, g, make_response, request, session
from flask_login import current_user

from webapp.audit import record_read

log = logging.getLogger(__name__)

CSRF_HOLE = "LIVECSRFHOLE0x7e3a"  # letters only: survives HTML escaping unchanged
_LOCK_MS = 3000
_WAIT_SECONDS = 2.0
_POLL_SECONDS = 0.01
_GZIP_FROM = 2048  # bytes: smaller answers are sent as they are


@dataclass
class Shown:
    """A rendered region: its HTML (with ``CSRF_HOLE`` for the token), what it is (the access
    log's ``what``), the patients it shows, and its status; once shared, the generation it was
    rendered in and a digest of its HTML (the ETag's base)."""

    html: str
    what: str
    patients: frozenset = field(default_factory=list)  # UUIDs (or their text), made a PatientSet
    status: int = 200
    generation: int | None = None
    digest: str = ""
    patient_set: int | None = None  # the stored set of its patients (webapp.audit.access.patient_set_id)
    _body: bytes | None = field(default=None, repr=False, compare=False)
    _gzipped: bytes | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        from webapp.audit.access import PatientSet  # here: webapp.audit's models import the views' modules

        # Made once per version and worker: every viewer's access-log row names these patients.
        self.patients = PatientSet(self.patients)

    def body(self) -> bytes:
        """The HTML as sent (the placeholder left in), encoded once."""
        if self._body is None:
            self._body = self.html.encode()
        return self._body

    def gzipped(self) -> bytes:
        """The body gzip-compressed, once (a worker answers every identical screen with it)."""
        if self._gzipped is None:
            packer = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: a gzip header and trailer
            self._gzipped = packer.compress(self.body()) + packer.flush()
        return self._gzipped

    def dump(self) -> bytes:
        """A small JSON line, then the HTML as it is (no JSON escaping of 100 KB of markup), then
        its gzip-compressed bytes when made (``z``: their length): the other workers send them
        without compressing the region again."""
        zipped = self._gzipped or b""
        meta = json.dumps({"w": self.what, "p": [str(p) for p in self.patients], "s": self.status, "g": self.generation,
                           "d": self.digest, "z": len(zipped), "ps": self.patient_set})
        return f"{meta}\n".encode() + self.body() + zipped

    def tag(self) -> str:
        """A digest of the HTML, made once: the ETag's base, however the region was rendered (a
        render that could not be shared too: an empty digest gave every such render of a user
        one ETag, and a changed region was answered 304 with the browser's older copy)."""
        if not self.digest:
            self.digest = hashlib.sha1(self.body()).hexdigest()
        return self.digest

    @classmethod
    def load(cls, raw: bytes) -> Shown:
        """Patients come back as a PatientSet, made once per worker and version, not once per viewer."""
        meta, _, rest = raw.partition(b"\n")
        data = json.loads(meta)
        zipped = data.get("z", 0)
        body = rest[:len(rest) - zipped]
        shown = cls(body.decode(), data["w"], data["p"], data["s"], data["g"], data["d"], data.get("ps"))
        shown._body = body
        shown._gzipped = rest[len(rest) - zipped:] if zipped else None
        return shown


def _redis():
    """The publisher's client (answers bounded by SSE_PUBLISH_TIMEOUT_SECONDS), or None."""
    from webapp.events import bp

    if not bp.redis_url() or current_app.config.get("LIVE_RENDER_CACHE_SECONDS", 30) <= 0:
        return None
    return bp.publisher


def csrf_context() -> dict:
    """Template context that renders the CSRF token as the placeholder (Jinja's context wins
    over the ``csrf_token`` global)."""
    return {"csrf_token": lambda: CSRF_HOLE}


class _Flights:
    """Per process: one render per key at a time; others wait for its result."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, tuple[threading.Event, list]] = {}

    def run(self, key: str, build: Callable[[], Shown]) -> Shown:
        with self._lock:
            running = self._running.get(key)
            leader = running is None
            if leader:
                running = self._running[key] = (threading.Event(), [])
        done, box = running
        if not leader:
            if done.wait(_WAIT_SECONDS) and box:
                return box[0]
            return _counted(build)()
        try:
            shown = build()
            box.append(shown)
            return shown
        finally:
            with self._lock:
                self._running.pop(key, None)
            done.set()


class _Recent:
    """Per process: the last few shared regions, so a worker fetches each version's HTML from
    Redis at most once (the generation is still read from Redis on every request)."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, int], Shown] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, generation: int) -> Shown | None:
        with self._lock:
            shown = self._entries.get((key, generation))
            if shown is not None:
                self._entries.move_to_end((key, generation))
            return shown

    def put(self, key: str, shown: Shown) -> None:
        with self._lock:
            self._entries[(key, shown.generation)] = shown
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


_flights = _Flights()
_recent = _Recent()
renders = {"count": 0}  # how many regions this process rendered (tests and the benchmark read it)


def answer(view: str, build: Callable[[], Shown]):
    """The region's response: from the cache when an identical screen rendered it in this
    version, else ``build()`` (which renders with :func:`csrf_context`)."""
    from webapp.events import publishing

    client = _redis()
    if client is None:
        return _respond(_counted(build)(), None)
    variant = (view, str(current_user.role), request.full_path, request.headers.get("HX-Target") or "")
    minute = _minute()
    try:
        # The generation first, then the data: what the region reads is never older than the
        # generation it is stored under (see _fresh_snapshot).
        generation = int(client.get(publishing.generation_key(current_app.config["SSE_CHANNEL"])) or 0)
        _fresh_snapshot()
        key = _key(variant, _head_event_id(), minute)
        shown = _recent.get(key, generation) or _stored(client, key, generation)
    except Exception as exc:  # Redis away: render per request, as without the cache
        log.warning("live render cache unavailable (%s): %s", type(exc).__name__, exc)
        return _respond(_counted(build)(), None)
    if shown is None:
        shown = _flights.run(f"{key}|{generation}", lambda: _shared_render(client, key, generation, build))
    if shown.status == 200 and shown.generation == generation:
        _recent.put(key, shown)
    return _respond(shown, _etag(shown))


def _minute() -> int:
    """Regions show waiting times and "now": a render serves at most its minute."""
    return int(time.time() // 60)


def _fresh_snapshot() -> None:
    """PostgreSQL (read committed) reads every statement from a new snapshot, after the
    generation was read. SQLite reads a whole transaction from the snapshot of its first read,
    the viewer's user, taken before that: a change committed and published in between (a claim,
    which writes no order event, so the head id stays) would be missing from a render stored
    under the generation that announced it, and its own re-fetch would be served that render.
    So a GET's read transaction, with nothing to write, ends here; the next read begins anew."""
    from webapp.extensions import db, end_read_transaction

    if db.session().get_bind().dialect.name == "sqlite":
        end_read_transaction()


def _head_event_id() -> int:
    """The newest event id, by the shortest road (the ORM's query costs more than the answer)."""
    from webapp.extensions import db

    return db.session.connection().exec_driver_sql("SELECT max(id) FROM order_events").scalar() or 0


def _key(variant: tuple, head: int, minute: int) -> str:
    digest = hashlib.sha1(json.dumps([*variant, head, minute]).encode()).hexdigest()
    return f"{current_app.config['SSE_CHANNEL']}:live-render:{digest}"


def _etag(shown: Shown) -> str:
    """Strong, from the HTML shown (an event that leaves a region as it was answers 304), per
    viewer and session (a region's forms carry the session's CSRF token)."""
    mine = f"{shown.tag()}|{current_user.get_id()}|{session.get('csrf_token', '')}"
    return hashlib.sha1(mine.encode()).hexdigest()[:32]


def _counted(build: Callable[[], Shown]) -> Callable[[], Shown]:
    def run() -> Shown:
        renders["count"] += 1
        g.live_rendered = True
        return build()
    return run


def _shared_render(client, key: str, generation: int, build: Callable[[], Shown]) -> Shown:
    """Render and store; unless another process holds the key's lock, then wait for its entry.

    This request looked in memory and in Redis before; a render of the same version may have
    been finished since (here or in another process, its lock then released): looked for again
    first. Twenty-four tablets' re-fetches of one event rendered the region twice that way in
    about one event in six (bench.live_render)."""
    done = _recent.get(key, generation)
    if done is not None:
        return done
    lock = f"{key}:lock:{generation}"
    try:
        mine = client.set(lock, "1", nx=True, px=_LOCK_MS)
        if mine:
            shown = _stored(client, key, generation)
            if shown is not None:
                _forget(client, lock)
                return shown
        else:
            deadline = time.monotonic() + _WAIT_SECONDS
            while time.monotonic() < deadline:
                time.sleep(_POLL_SECONDS)
                shown = _stored(client, key, generation)
                if shown is not None:
                    return shown
    except Exception as exc:
        log.warning("live render cache unavailable (%s): %s", type(exc).__name__, exc)
        return _counted(build)()
    try:
        shown = _counted(build)()
    except Exception:  # a refused request (400, 404…): let the others render (and be refused) now
        _forget(client, lock)
        raise
    shown.generation = generation
    shown.tag()
    if len(shown.body()) >= _GZIP_FROM:
        shown.gzipped()  # once for every worker: stored with the entry
    if shown.status == 200:
        shown.patient_set = _patient_set(shown)
        try:
            pipe = client.pipeline(transaction=False)
            pipe.set(key, shown.dump(), ex=int(current_app.config.get("LIVE_RENDER_CACHE_SECONDS", 30)))
            pipe.delete(lock)
            pipe.execute()
        except Exception as exc:
            log.warning("live render not cached (%s): %s", type(exc).__name__, exc)
    return shown


def _stored(client, key: str, generation: int) -> Shown | None:
    """The render Redis holds under ``key``, if it was made in this generation."""
    cached = client.get(key)
    shown = Shown.load(cached) if cached else None
    return shown if shown is not None and shown.generation == generation else None


def _patient_set(shown: Shown) -> int | None:
    """The region's patients stored once, for every viewer's access-log row to name; None when
    that write fails (each viewer's row then names the patients one by one, as without the cache)."""
    from webapp.audit.access import patient_set_id

    try:
        return patient_set_id(shown.patients)
    except Exception as exc:
        log.warning("patients of a shared region not stored as a set (%s): %s", type(exc).__name__, exc)
        return None


def _forget(client, lock: str) -> None:
    try:
        client.delete(lock)
    except Exception as exc:
        log.warning("live render lock not released (%s): %s", type(exc).__name__, exc)


def _respond(shown: Shown, etag: str | None):
    """Log the viewer's read, then 304 when the browser holds this version, else the region's
    bytes, the same for every viewer of the version (gzip-compressed when the browser takes it);
    static/live.js puts the viewer's own CSRF token where ``X-CSRF-Hole`` says."""
    record_read(current_user, shown.what, shown.patients, patient_set=shown.patient_set)
    if etag and shown.status == 200 and etag in request.if_none_match:
        response = make_response("", 304)
    elif len(shown.body()) >= _GZIP_FROM and "gzip" in request.accept_encodings:
        response = make_response(shown.gzipped(), shown.status)
        response.headers["Content-Encoding"] = "gzip"
    else:
        response = make_response(shown.body(), shown.status)
    response.headers["X-CSRF-Hole"] = CSRF_HOLE
    if etag and shown.status == 200:
        response.set_etag(etag)
        response.cache_control.private = True
        response.cache_control.no_cache = True
    response.vary.update(("HX-Request", "HX-Target", "Accept-Encoding"))
    # Rendered for this request, or shared with an identical screen (the benchmark counts them).
    response.headers["X-Live-Render"] = "rendered" if g.get("live_rendered") else "shared"
    return response
