"""Configuration: the only module that reads the environment."""

from __future__ import annotations

import os
import re
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = ROOT / "instance"


def _instance_path() -> Path:
    path = Path(os.environ.get("INSTANCE_PATH", DEFAULT_INSTANCE))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _secret_key(instance: Path) -> str:
    """SECRET_KEY from the environment, else one generated once and kept in the instance folder."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    key_file = instance / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


# The typed readers of every setting: a value that is not of the type stops the start with an
# error naming the setting.


def _env(name: str, default: object) -> str:
    return os.environ.get(name, str(default)).strip()


def _flag(name: str, default: bool = False) -> bool:
    return _env(name, "1" if default else "0").lower() in ("1", "true", "yes", "on")


def _number(name: str, default: object, kind: type, what: str):
    value = _env(name, default)
    try:
        return kind(value)
    except ValueError:
        raise ValueError(f"{name} must be {what}, not {value!r}.") from None


def _int(name: str, default: int) -> int:
    return _number(name, default, int, "a whole number")


def _float(name: str, default: float) -> float:
    return _number(name, default, float, "a number")


def _minutes(name: str, default: float) -> float:
    """A number of minutes > 0, decimals allowed (0.05 is 3 seconds)."""
    value = _float(name, default)
    if not 0 < value < 10**6:  # also refuses nan and inf
        raise ValueError(f"{name} must be a number of minutes above 0, not {value!r}.")
    return value


def _at_least_one(name: str, default: int) -> int:
    value = _count(name, default)
    if value < 1:
        raise ValueError(f"{name} must be a whole number >= 1, not {value!r}.")
    return value


def _url(name: str, schemes: tuple[str, ...]) -> str:
    """An empty value (not configured) or a URL with one of ``schemes`` and a host."""
    from urllib.parse import urlsplit

    value = os.environ.get(name, "").strip()
    if value:
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.hostname:
            raise ValueError(f"{name} must be a URL starting with {' or '.join(s + '://' for s in schemes)}"
                             f" and naming a host.")
    return value


def _count(name: str, default: int) -> int:
    """A whole number >= 0."""
    value = _env(name, default)
    if not value.isdigit():
        raise ValueError(f"{name} must be a whole number >= 0, not {value!r}.")
    return int(value)


def _text(name: str, default: str | None) -> str | None:
    return os.environ.get(name, default)


def _names(name: str, default: str = "") -> list[str]:
    """A comma-separated list."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _system(name: str, default: str) -> str:
    """A FHIR identifier system (Identifier.system, a uri): an absolute http(s) URI, or
    ``urn:oid:<OID>`` / ``urn:uuid:<UUID>`` (FHIR R4 datatypes, "uri"; RFC 3001 and 4122)."""
    value = _env(name, default)
    lower = value.lower()
    if lower.startswith("urn:oid:"):
        ok = bool(_OID.match(value[8:]))
    elif lower.startswith("urn:uuid:"):
        ok = bool(_UUID.match(lower[9:]))
    else:
        parts = urlsplit(value)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.fragment
    if not ok or any(ch.isspace() or ch in "|," for ch in value):
        raise ValueError(f"{name} must be an absolute http(s) URI or urn:oid:<OID> (e.g. urn:oid:2.16.840.1.113883.19.5), "
                         f"not {value!r}.")
    return value


# The plain settings: (environment variable and configuration key, reader, default); the README's
# table and docs/ say more.
SETTINGS = (
    # PostgreSQL (webapp.db_timeouts): an unreachable or stalled server must fail fast (503),
    # not hang the worker until TCP gives up. Seconds; 0 turns one off. DATABASE_SOCKET_TIMEOUT
    # (Config) defaults to the statement timeout + 5.
    ("DATABASE_CONNECT_TIMEOUT", _int, 5), ("DATABASE_STATEMENT_TIMEOUT", _float, 5),
    # DATABASE_IDLE_IN_TRANSACTION_TIMEOUT and DATABASE_LOCK_TIMEOUT (Config) default to 0.6 × and
    # 1 × the statement timeout.
    # A transaction PostgreSQL gave up to a deadlock or serialization failure runs again
    # (webapp.db_retry): attempts in all, the first included.
    ("DATABASE_RETRY_ATTEMPTS", _int, 4),
    # Unset: webapp.events.init_app takes the embedded Redis of `make run` when this
    # installation's server is running (advertised in the instance folder).
    ("REDIS_URL", _text, None),
    # Live events (webapp/events): see docs/live-updates.md.
    ("SSE_CHANNEL", _text, "imaging-orders:events"), ("SSE_HEARTBEAT_SECONDS", _float, 15),
    ("SSE_RETRY_MS", _int, 2000), ("SSE_MAX_STREAM_SECONDS", _float, 600), ("SSE_REPLAY_LIMIT", _int, 500),
    # Publishing runs after the commit, in the request: a Redis that stops answering may
    # hold the request this long (connect and answer), then the event is left to replay.
    ("SSE_PUBLISH_TIMEOUT_SECONDS", _float, 0.5),
    # A quiet stream PINGs Redis on its subscription after this long and ends (the browser comes
    # back and replays from the table) when the answer takes as long again: a frozen Redis is
    # noticed within about twice this. Also bounds each of a stream's own commands (its slot).
    ("SSE_REDIS_CHECK_SECONDS", _float, 2.0),
    # Live regions rendered once per (view, variant, version) and kept this long in Redis for
    # identical screens (webapp/web/live_cache.py); 0 renders every request. Also the longest a
    # change that publishes nothing (an ADT name correction) takes to show on a live region.
    ("LIVE_RENDER_CACHE_SECONDS", _int, 30),
    # The access-log rows of shared live regions' viewers are queued and written together this
    # often (webapp/audit/access.py); 0 writes each row before its answer.
    ("ACCESS_LOG_BATCH_SECONDS", _float, 1.0),
    # After this many requests a process moves its long-lived objects out of the garbage
    # collector's way (webapp/gc_freeze.py), and again after ten times as many; 0: never.
    ("GC_FREEZE_AFTER_REQUESTS", _int, 20),
    # Open streams per account, counted in Redis across workers and hosts (webapp/events/slots.py);
    # 0 switches the cap off. The wall display's account is often signed in on several screens.
    # A crashed worker's slots free themselves after the lease (at least three heartbeats).
    ("STREAM_MAX_PER_USER", _int, 8), ("STREAM_MAX_PER_DISPLAY", _int, 16), ("STREAM_SLOT_LEASE_SECONDS", _float, 60),
    ("APP_TIMEZONE", _text, "UTC"),
    ("DICOM_ALLOWED_AE_TITLES", _names, ""),
    # Connections before any AE title is known (webapp.dicom.connections): per peer address, the
    # wait for an association request (seconds), and in all.
    ("DICOM_MAX_CONNECTIONS_PER_PEER", _int, 4), ("DICOM_ASSOCIATION_REQUEST_TIMEOUT", _float, 5),
    ("DICOM_MAX_ASSOCIATIONS", _int, 32),
    # Seconds a started HL7 message may take to arrive whole (webapp.hl7.listener).
    ("HL7_FRAME_TIMEOUT_SECONDS", _float, 10),
    # The worklist (webapp/dicom/worklist.py): a calling AE title registered as a station gets that
    # station's bookings when its query names none; at most this many items per answer (then A700).
    ("DICOM_STATION_FROM_CALLING_AE", _flag, False), ("DICOM_WORKLIST_MAX_ITEMS", _at_least_one, 1000),
    # Sessions and API tokens: idle and absolute limits of a signed-in session, a token's life.
    ("SESSION_IDLE_MINUTES", _int, 30), ("SESSION_MAX_HOURS", _int, 12), ("API_TOKEN_MINUTES", _int, 60),
    ("SESSION_COOKIE_SECURE", _flag, False),
    # Sign-in throttling (webapp.auth.throttle): failures allowed per window, per (account,
    # address) pair and per address over LOGIN_THROTTLE_MINUTES, per account (any address)
    # over the longer LOGIN_ACCOUNT_LOCK_MINUTES.
    ("LOGIN_THROTTLE_MINUTES", _int, 15), ("LOGIN_ACCOUNT_LOCK_MINUTES", _int, 60),
    ("LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS", _int, 5), ("LOGIN_MAX_FAILURES_PER_ADDRESS", _int, 20),
    ("LOGIN_MAX_FAILURES_PER_ACCOUNT", _int, 50),
    # Proxies in front of the app whose X-Forwarded-For/-Proto/-Host are believed (werkzeug's
    # ProxyFix): 0 trusts none (the app is reached directly), 1 one load balancer, ...
    ("TRUSTED_PROXIES", _count, 0),
    # Strict-Transport-Security max-age, sent on HTTPS answers only; 0 sends none.
    ("HSTS_SECONDS", _count, 0),
    # Request bodies: at most this many bytes (413), whole within this many seconds (408, webapp/bodyread.py).
    ("MAX_CONTENT_LENGTH", _int, 256 * 1024), ("BODY_READ_TIMEOUT", _float, 5),
    # PACS (webapp/pacs): Orthanc's answers, the follower's polling and its longest backoff
    # (seconds); PACS_COMPLETES_ORDERS=1 completes an in-progress order when its images arrive.
    ("ORTHANC_TIMEOUT", _float, 5), ("PACS_POLL_SECONDS", _float, 2), ("PACS_MAX_BACKOFF_SECONDS", _float, 60),
    ("PACS_COMPLETES_ORDERS", _flag, False),
    # A study seen arriving with no StableStudy change after this many seconds (Orthanc's
    # StableAge, 60 by default, and a margin) is recorded if Orthanc holds it stable; recent
    # studies are reconciled this often (webapp/pacs/follower.py, issue 26 item 3).
    ("PACS_STABLE_WAIT_SECONDS", _float, 120), ("PACS_RECONCILE_SECONDS", _float, 600),
    # FHIR identifier systems (webapp/fhir, docs/fhir.md): the namespace of each of our numbers in
    # every Identifier served and searched; set them to the hospital's own URIs or OIDs.
    ("FHIR_MRN_SYSTEM", _system, "https://imaging-orders.example.org/fhir/sid/mrn"),
    ("FHIR_ACCESSION_SYSTEM", _system, "https://imaging-orders.example.org/fhir/sid/accession-number"),
    ("FHIR_ORDER_SYSTEM", _system, "https://imaging-orders.example.org/fhir/sid/order-number"),
    # An unacknowledged critical result is overdue, and escalated, after this many minutes
    # (decimals allowed; webapp.reporting.critical, webapp.reporting.escalation).
    ("CRITICAL_ACK_MINUTES", _minutes, 15),
    # Where an escalation goes (webapp.outbox.notify): a JSON POST to the webhook; an e-mail to
    # CRITICAL_NOTIFY_EMAIL (comma-separated) through SMTP_URL (smtp:// or smtps://, user:pass@
    # optional), sent from SMTP_FROM.
    ("CRITICAL_WEBHOOK_URL", lambda name, _default: _url(name, ("http", "https")), ""),
    ("SMTP_URL", lambda name, _default: _url(name, ("smtp", "smtps")), ""),
    ("CRITICAL_NOTIFY_EMAIL", _names, ""), ("SMTP_FROM", _text, "imaging-orders@localhost"),
    # The reading room (webapp.reporting.claims, .peer_review): a claim nobody has used for this
    # long lapses; the share (percent) of each radiologist's signed reports offered for peer review.
    ("REPORT_CLAIM_IDLE_MINUTES", _int, 20), ("PEER_REVIEW_PERCENT", _int, 5),
    # Booking targets (webapp.imaging.booking): a STAT order is booked within this many hours of
    # being ordered, an urgent one within this many days; later needs a reason.
    ("BOOKING_STAT_HOURS", _float, 4), ("BOOKING_URGENT_DAYS", _float, 2),
    # HL7 (webapp/hl7, webapp/outbox): who we are in MSH-3/MSH-4, where the listener binds, how long
    # a receiver may take to answer; the outbox's waits between attempts double from the first to
    # the longest (seconds); how often an idle dispatcher looks for new messages.
    ("HL7_SENDING_APPLICATION", _text, "IMAGINGORDERS"), ("HL7_SENDING_FACILITY", _text, "RADIOLOGY"),
    # MSH-5 and MSH-6 of what we send (the EHR's application and facility); empty: left out.
    ("HL7_RECEIVING_APPLICATION", _text, ""), ("HL7_RECEIVING_FACILITY", _text, ""),
    ("HL7_INBOUND_HOST", _text, "127.0.0.1"), ("HL7_TIMEOUT_SECONDS", _float, 10),
    ("OUTBOX_RETRY_SECONDS", _float, 1), ("OUTBOX_RETRY_MAX_SECONDS", _float, 300), ("OUTBOX_POLL_SECONDS", _float, 0.2),
)


def _database_url(instance: Path) -> str:
    url = os.environ.get("DATABASE_URL", f"sqlite:///{instance / 'app.db'}")
    # Render's old URLs say postgres://; SQLAlchemy wants the driver named.
    if url.startswith(("postgres://", "postgresql://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _destinations(name: str) -> list[str]:
    """``host:port[,host:port]``; anything else stops the start with a clear error."""
    destinations = _names(name)
    for destination in destinations:
        host, _, port = destination.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{name} must be host:port[,host:port], not {destination!r}.")
    return destinations


def _port(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) > 65535:
        raise ValueError(f"{name} must be a port number, not {value!r}.")
    return int(value)


class Config:
    """Runtime configuration, read from the environment (the README's table; details in docs/)."""

    def __init__(self) -> None:
        instance = _instance_path()
        self.INSTANCE_PATH = str(instance)
        self.SECRET_KEY = _secret_key(instance)
        self.SQLALCHEMY_DATABASE_URI = _database_url(instance)
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        if self.SQLALCHEMY_DATABASE_URI.startswith("postgresql"):
            # A worker's pool keeps DATABASE_POOL_SIZE connections open and opens up to
            # DATABASE_MAX_OVERFLOW more at busy moments, closing those again after use. An event
            # makes every live screen re-fetch within 250 ms; with SQLAlchemy's 5 kept, each burst
            # opened and closed connections again (bench/README.md). At most 15 at once per worker
            # either way, as with SQLAlchemy's defaults (5 + 10).
            size, overflow = _int("DATABASE_POOL_SIZE", 10), _int("DATABASE_MAX_OVERFLOW", 5)
            if size < 1 or overflow < 0:
                raise ValueError(f"DATABASE_POOL_SIZE must be at least 1 and DATABASE_MAX_OVERFLOW at least 0, "
                                 f"not {size} and {overflow}.")
            # A connection back in the pool less than DATABASE_PING_IDLE_SECONDS ago is not pinged
            # again on checkout (webapp.db_timeouts.ping_when_idle); 0 pings every checkout.
            ping_idle = _float("DATABASE_PING_IDLE_SECONDS", 10.0)
            if ping_idle < 0:
                raise ValueError(f"DATABASE_PING_IDLE_SECONDS must be 0 or more, not {ping_idle:g}.")
            self.DATABASE_PING_IDLE_SECONDS = ping_idle
            self.SQLALCHEMY_ENGINE_OPTIONS |= {"pool_size": size, "max_overflow": overflow,
                                               "pool_pre_ping": ping_idle == 0}
        for name, read, default in SETTINGS:
            setattr(self, name, read(name, default))
        statement = self.DATABASE_STATEMENT_TIMEOUT
        self.DATABASE_SOCKET_TIMEOUT = _float("DATABASE_SOCKET_TIMEOUT", statement + 5 if statement > 0 else 0)
        # None: derived from the statement timeout where it is applied (webapp.db_timeouts).
        for name in ("DATABASE_IDLE_IN_TRANSACTION_TIMEOUT", "DATABASE_LOCK_TIMEOUT"):
            setattr(self, name, _float(name, 0) if os.environ.get(name, "").strip() else None)
        # One pooled Redis connection per open stream, plus a few for publishing.
        self.SSE_REDIS_MAX_CONNECTIONS = _int("SSE_REDIS_MAX_CONNECTIONS", _int("WORKER_CONNECTIONS", 1000) + 20)
        self.DICOM_OFFER_ORDERED = os.environ.get("DICOM_OFFER_ORDERED", "0") == "1"
        # Safety screening (docs/safety.md): the worklist offers a step only once the patient has arrived.
        self.DICOM_REQUIRE_ARRIVAL = os.environ.get("DICOM_REQUIRE_ARRIVAL", "0") == "1"
        # PACS (webapp/pacs, docs/pacs.md): unset ORTHANC_URL switches the integration off.
        self.ORTHANC_URL = (os.environ.get("ORTHANC_URL") or "").strip().rstrip("/") or None
        self.ORTHANC_USERNAME = os.environ.get("ORTHANC_USERNAME") or None
        self.ORTHANC_PASSWORD = os.environ.get("ORTHANC_PASSWORD") or None
        self.VIEWER_URL_TEMPLATE = os.environ.get("VIEWER_URL_TEMPLATE") or None
        # HL7 v2 over MLLP (webapp/hl7, webapp/outbox; docs/interfaces.md).
        self.HL7_OUTBOUND = _destinations("HL7_OUTBOUND")
        self.HL7_INBOUND_PORT = _port("HL7_INBOUND_PORT")
        self.OUTBOX_MAX_ATTEMPTS = max(1, _count("OUTBOX_MAX_ATTEMPTS", 20))
        # The cookie itself never outlives the absolute limit; the idle limit is checked per request.
        self.PERMANENT_SESSION_LIFETIME = timedelta(hours=self.SESSION_MAX_HOURS)
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.WTF_CSRF_TIME_LIMIT = None
        self.SQLALCHEMY_RECORD_QUERIES = False
        self.PASSWORD_HASH_METHOD = "scrypt"
        self.TESTING = False


class TestConfig(Config):
    __test__ = False  # not a pytest test class

    """Tests: a database URL given by the fixture, no CSRF on plain test-client forms unless asked."""

    def __init__(self, database_url: str, **overrides) -> None:
        super().__init__()
        self.TESTING = True
        self.SQLALCHEMY_DATABASE_URI = database_url
        self.SQLALCHEMY_ENGINE_OPTIONS = {}
        # Test users only: a cheap hash keeps hundreds of fixtures fast. Production keeps scrypt.
        self.PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"
        self.REDIS_URL = overrides.pop("REDIS_URL", None)
        self.GC_FREEZE_AFTER_REQUESTS = 0  # a test process holds many apps: nothing of theirs kept for good
        for key, value in overrides.items():
            setattr(self, key, value)
