"""PostgreSQL connections are pinged on checkout only after they sat in the pool a while
(``DATABASE_PING_IDLE_SECONDS``, webapp.db_timeouts.ping_when_idle): a burst of requests does
not pay a round trip each for it, and a connection that died while idle is still found and
replaced before a request uses it; a page read that meets a connection closed meanwhile is
run again on a new one (webapp.db_retry)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, exc, text
from sqlalchemy.engine import make_url

from tests.conftest import with_schema
from webapp import create_app
from webapp.config import TestConfig
from webapp.extensions import db


@pytest.fixture
def database_url(postgres_database):
    return with_schema(postgres_database)


@pytest.fixture
def app_config():
    return {"DATABASE_PING_IDLE_SECONDS": 10.0}


@pytest.fixture
def pinged_app(postgres_database, monkeypatch):
    app = create_app(TestConfig(postgres_database, DATABASE_PING_IDLE_SECONDS=1.0))
    with app.app_context():
        engine = db.engine
        pings: list[int] = []
        real = engine.dialect.do_ping
        monkeypatch.setattr(engine.dialect, "do_ping", lambda connection: pings.append(1) or real(connection))
        yield engine, pings
        engine.dispose()


def _pid(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _age_pooled(engine, seconds: float) -> None:
    """As if every pooled connection had been given back ``seconds`` earlier."""
    for record in list(engine.pool._pool.queue):
        record.info["returned_at"] -= seconds


def _terminate(postgres_database, pid: int) -> None:
    admin = create_engine(make_url(postgres_database), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    admin.dispose()


def test_a_connection_given_back_a_moment_ago_is_not_pinged_one_idle_longer_is(pinged_app):
    engine, pings = pinged_app
    assert engine.pool._pre_ping is False
    first = _pid(engine)  # a new connection: alive, not pinged
    assert _pid(engine) == first and _pid(engine) == first
    assert pings == [], "given back a moment ago: used without a ping"
    _age_pooled(engine, 5)
    assert _pid(engine) == first
    assert pings == [1], "idle 5 s: pinged once"


def test_a_connection_that_died_while_idle_is_replaced_before_use(pinged_app, postgres_database):
    engine, pings = pinged_app
    first = _pid(engine)
    _terminate(postgres_database, first)
    _age_pooled(engine, 5)
    second = _pid(engine)  # no error: the ping found it gone, the pool opened another
    assert second != first and pings == [1]


def test_one_that_died_within_the_moment_fails_one_use_then_the_pool_recovers(pinged_app, postgres_database):
    """The trade-off documented in docs/deployment.md: a server restarted within the idle second
    fails the next use of such a connection (a request answers 503); the pool then discards it."""
    engine, _ = pinged_app
    first = _pid(engine)
    _terminate(postgres_database, first)
    with pytest.raises(exc.OperationalError):
        _pid(engine)
    assert _pid(engine) != first


def test_a_page_read_on_a_connection_closed_meanwhile_is_answered_from_a_new_one(app, make_user, make_order,
                                                                                postgres_database):
    """PostgreSQL restarted (here: every connection of the app's ended) while the pool's
    connections sat unpinged: the next page read fails on its connection, SQLAlchemy drops the
    pool's connections, and the read runs once more on a new one: the user sees the page."""
    order = make_order("ordered")
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = make_user("doctor").get_id()
    assert client.get("/imaging/orders").status_code == 200
    admin = create_engine(make_url(postgres_database), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        ended = connection.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar_one()
    admin.dispose()
    assert ended >= 1

    page = client.get("/imaging/orders")

    assert page.status_code == 200 and order.accession_number in page.get_data(as_text=True)
