"""Settings come from the environment through one typed reader each (webapp/config.py)."""

from __future__ import annotations

import pytest

from webapp.config import SETTINGS, Config

pytestmark = pytest.mark.sqlite_only


@pytest.mark.parametrize("name, value", [
    ("SSE_RETRY_MS", "2s"), ("SSE_HEARTBEAT_SECONDS", "fast"), ("HSTS_SECONDS", "-5"), ("DATABASE_SOCKET_TIMEOUT", "x"),
    ("WORKER_CONNECTIONS", "many"),
])
def test_a_bad_number_stops_the_start_naming_the_setting(monkeypatch, tmp_path, name, value):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=f"^{name} must be .*{value!r}"):
        Config()


def test_every_setting_is_read_with_its_type(monkeypatch, tmp_path):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    for name, _, _ in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    defaults = Config()
    assert (defaults.SSE_RETRY_MS, defaults.SSE_PUBLISH_TIMEOUT_SECONDS, defaults.REDIS_URL) == (2000, 0.5, None)
    assert defaults.DATABASE_SOCKET_TIMEOUT == defaults.DATABASE_STATEMENT_TIMEOUT + 5
    monkeypatch.setenv("SSE_RETRY_MS", " 1500 ")
    monkeypatch.setenv("DATABASE_STATEMENT_TIMEOUT", "0")
    monkeypatch.setenv("DICOM_ALLOWED_AE_TITLES", " CT_1, ,MR_2 ")
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "On")
    monkeypatch.setenv("WORKER_CONNECTIONS", "100")
    configured = Config()
    assert configured.SSE_RETRY_MS == 1500 and configured.DATABASE_SOCKET_TIMEOUT == 0
    assert configured.DICOM_ALLOWED_AE_TITLES == ["CT_1", "MR_2"] and configured.SESSION_COOKIE_SECURE is True
    assert configured.SSE_REDIS_MAX_CONNECTIONS == 120
    assert len({name for name, _, _ in SETTINGS}) == len(SETTINGS)  # each setting read once


def test_a_postgresql_pool_keeps_ten_connections_and_refuses_a_bad_size(monkeypatch, tmp_path):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("DATABASE_POOL_SIZE", raising=False)
    monkeypatch.delenv("DATABASE_MAX_OVERFLOW", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://app@db.example/imaging")
    options = Config().SQLALCHEMY_ENGINE_OPTIONS
    # Pinged on checkout only after ten seconds in the pool (webapp.db_timeouts.ping_when_idle).
    assert (options["pool_size"], options["max_overflow"], options["pool_pre_ping"]) == (10, 5, False)
    assert Config().DATABASE_PING_IDLE_SECONDS == 10
    monkeypatch.setenv("DATABASE_PING_IDLE_SECONDS", "0")
    assert Config().SQLALCHEMY_ENGINE_OPTIONS["pool_pre_ping"] is True, "0: every checkout pinged, as before"
    monkeypatch.setenv("DATABASE_PING_IDLE_SECONDS", "-1")
    with pytest.raises(ValueError, match="DATABASE_PING_IDLE_SECONDS must be 0 or more"):
        Config()
    monkeypatch.delenv("DATABASE_PING_IDLE_SECONDS")
    monkeypatch.setenv("DATABASE_POOL_SIZE", "0")
    with pytest.raises(ValueError, match="DATABASE_POOL_SIZE must be at least 1"):
        Config()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")  # SQLite: its own pool, as before
    assert "pool_size" not in Config().SQLALCHEMY_ENGINE_OPTIONS
