"""Configuration: the only module that reads the environment."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

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


def _flag(name: str, default: str = "0") -> bool:
    return os.environ.get(name, default).strip().lower() in ("1", "true", "yes", "on")


def _count(name: str, default: str) -> int:
    """A whole number >= 0 from the environment; anything else stops the start with a clear error."""
    value = os.environ.get(name, default).strip()
    if not value.isdigit():
        raise ValueError(f"{name} must be a whole number >= 0, not {value!r}.")
    return int(value)


def _csv(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


class Config:
    """Runtime configuration, read from the environment (the README's table; details in docs/)."""

    def __init__(self) -> None:
        instance = _instance_path()
        self.INSTANCE_PATH = str(instance)
        self.SECRET_KEY = _secret_key(instance)
        self.SQLALCHEMY_DATABASE_URI = os.environ.get(
            "DATABASE_URL", f"sqlite:///{instance / 'app.db'}"
        )
        # Render's old URLs say postgres://; SQLAlchemy wants the driver named.
        if self.SQLALCHEMY_DATABASE_URI.startswith(("postgres://", "postgresql://")):
            self.SQLALCHEMY_DATABASE_URI = "postgresql+psycopg://" + self.SQLALCHEMY_DATABASE_URI.split("://", 1)[1]
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        # PostgreSQL (webapp.db_timeouts): an unreachable or stalled server must fail fast (503),
        # not hang the worker until TCP gives up. Seconds; 0 turns one off.
        self.DATABASE_CONNECT_TIMEOUT = int(os.environ.get("DATABASE_CONNECT_TIMEOUT", "5"))
        self.DATABASE_STATEMENT_TIMEOUT = float(os.environ.get("DATABASE_STATEMENT_TIMEOUT", "5"))
        self.DATABASE_SOCKET_TIMEOUT = float(os.environ.get(
            "DATABASE_SOCKET_TIMEOUT", self.DATABASE_STATEMENT_TIMEOUT + 5 if self.DATABASE_STATEMENT_TIMEOUT > 0 else 0
        ))
        # A transaction PostgreSQL gave up to a deadlock or serialization failure runs again
        # (webapp.db_retry): attempts in all, the first included.
        self.DATABASE_RETRY_ATTEMPTS = int(os.environ.get("DATABASE_RETRY_ATTEMPTS", "4"))
        # Unset: webapp.events.init_app takes the embedded Redis of `make run` when this
        # installation's server is running (advertised in the instance folder).
        self.REDIS_URL = os.environ.get("REDIS_URL")
        # Live events (webapp/events): see docs/live-updates.md.
        self.SSE_CHANNEL = os.environ.get("SSE_CHANNEL", "imaging-orders:events")
        self.SSE_HEARTBEAT_SECONDS = float(os.environ.get("SSE_HEARTBEAT_SECONDS", "15"))
        self.SSE_RETRY_MS = int(os.environ.get("SSE_RETRY_MS", "2000"))
        self.SSE_MAX_STREAM_SECONDS = float(os.environ.get("SSE_MAX_STREAM_SECONDS", "600"))
        # Publishing runs after the commit, in the request: a Redis that stops answering may
        # hold the request this long (connect and answer), then the event is left to replay.
        self.SSE_PUBLISH_TIMEOUT_SECONDS = float(os.environ.get("SSE_PUBLISH_TIMEOUT_SECONDS", "0.5"))
        self.SSE_REPLAY_LIMIT = int(os.environ.get("SSE_REPLAY_LIMIT", "500"))
        # Open streams per account, counted in Redis across workers and hosts (webapp/events/slots.py);
        # 0 switches the cap off. The wall display's account is often signed in on several screens.
        self.STREAM_MAX_PER_USER = int(os.environ.get("STREAM_MAX_PER_USER", "8"))
        self.STREAM_MAX_PER_DISPLAY = int(os.environ.get("STREAM_MAX_PER_DISPLAY", "16"))
        # A crashed worker's slots free themselves after this (at least three heartbeats).
        self.STREAM_SLOT_LEASE_SECONDS = float(os.environ.get("STREAM_SLOT_LEASE_SECONDS", "60"))
        # One pooled Redis connection per open stream, plus a few for publishing.
        self.SSE_REDIS_MAX_CONNECTIONS = int(
            os.environ.get("SSE_REDIS_MAX_CONNECTIONS", int(os.environ.get("WORKER_CONNECTIONS", "1000")) + 20)
        )
        self.APP_TIMEZONE = os.environ.get("APP_TIMEZONE", "UTC")
        # An unacknowledged critical result is overdue after this (webapp.reporting.critical).
        self.CRITICAL_ACK_MINUTES = int(os.environ.get("CRITICAL_ACK_MINUTES", "15"))
        self.DICOM_ALLOWED_AE_TITLES = _csv(os.environ.get("DICOM_ALLOWED_AE_TITLES"))
        self.DICOM_OFFER_ORDERED = os.environ.get("DICOM_OFFER_ORDERED", "0") == "1"
        self.SESSION_IDLE_MINUTES = int(os.environ.get("SESSION_IDLE_MINUTES", "30"))
        self.SESSION_MAX_HOURS = int(os.environ.get("SESSION_MAX_HOURS", "12"))
        # The cookie itself never outlives the absolute limit; the idle limit is checked per request.
        self.PERMANENT_SESSION_LIFETIME = timedelta(hours=self.SESSION_MAX_HOURS)
        self.API_TOKEN_MINUTES = int(os.environ.get("API_TOKEN_MINUTES", "60"))
        # Sign-in throttling (webapp.auth.throttle): failures allowed per window, per (account,
        # address) pair and per address over LOGIN_THROTTLE_MINUTES, per account (any address)
        # over the longer LOGIN_ACCOUNT_LOCK_MINUTES.
        self.LOGIN_THROTTLE_MINUTES = int(os.environ.get("LOGIN_THROTTLE_MINUTES", "15"))
        self.LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS = int(os.environ.get("LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS", "5"))
        self.LOGIN_MAX_FAILURES_PER_ADDRESS = int(os.environ.get("LOGIN_MAX_FAILURES_PER_ADDRESS", "20"))
        self.LOGIN_MAX_FAILURES_PER_ACCOUNT = int(os.environ.get("LOGIN_MAX_FAILURES_PER_ACCOUNT", "50"))
        self.LOGIN_ACCOUNT_LOCK_MINUTES = int(os.environ.get("LOGIN_ACCOUNT_LOCK_MINUTES", "60"))
        # Proxies in front of the app whose X-Forwarded-For/-Proto/-Host are believed (werkzeug's
        # ProxyFix): 0 trusts none (the app is reached directly), 1 one load balancer, ...
        self.TRUSTED_PROXIES = _count("TRUSTED_PROXIES", "0")
        # Strict-Transport-Security max-age, sent on HTTPS answers only; 0 sends none.
        self.HSTS_SECONDS = _count("HSTS_SECONDS", "0")
        self.MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", str(256 * 1024)))
        # A writing request's whole body must arrive within this many seconds, else 408 (webapp/bodyread.py).
        self.BODY_READ_TIMEOUT = float(os.environ.get("BODY_READ_TIMEOUT", "5"))
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = _flag("SESSION_COOKIE_SECURE")
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
        for key, value in overrides.items():
            setattr(self, key, value)
