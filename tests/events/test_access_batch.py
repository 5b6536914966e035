"""The access-log rows of a shared live region's viewers are queued and written together
(webapp/audit/access.py, ``ACCESS_LOG_BATCH_SECONDS``): every viewer's read still lands, by the
process's own timer, at exit, before the log is read here, and at once when the database has
refused the queue for too long; a queue that fails to be written is kept, not dropped."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select
from sqlalchemy.exc import DBAPIError

from tests.events.test_live_render import REGION, signed_in
from webapp.audit import access
from webapp.audit.models import PatientAccessLog
from webapp.extensions import db
from webapp.web import live_cache

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app_config(events_redis_url, sse_channel):
    return {"REDIS_URL": events_redis_url, "SSE_CHANNEL": sse_channel, "LIVE_RENDER_CACHE_SECONDS": 30,
            "ACCESS_LOG_BATCH_SECONDS": 0.3}


@pytest.fixture(autouse=True)
def one_minute(monkeypatch):
    monkeypatch.setattr(live_cache, "_minute", lambda: 29_000_000)


def _rows(app) -> list[tuple]:
    """The access rows as the database holds them now (nothing queued is written first)."""
    with app.app_context():
        rows = db.session.execute(select(PatientAccessLog.user_id, PatientAccessLog.patient_set_id,
                                         PatientAccessLog.request_path).order_by(PatientAccessLog.id)).all()
        db.session.rollback()
        return rows


def _wait_for(app, count: int, seconds: float = 10.0) -> list[tuple]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        rows = _rows(app)
        if len(rows) >= count:
            return rows
        time.sleep(0.05)
    return _rows(app)


def test_viewers_rows_are_written_together_by_the_timer(app, make_user, make_order):
    order = make_order("scheduled")
    users = [make_user("technician") for _ in range(3)]
    assert _rows(app) == []
    answers = [signed_in(app, u).get("/imaging/worklist", headers=REGION) for u in users]
    assert [a.status_code for a in answers] == [200] * 3
    assert app.extensions["access_log_batch"].pending() == 3, "queued, not written before the answers"
    rows = _wait_for(app, 3)  # no flush called: the process's timer writes them
    assert len(rows) == 3, "every viewer's read written within the batch interval"
    assert {r.user_id for r in rows} == {u.id for u in users}
    assert len({r.patient_set_id for r in rows}) == 1 and rows[0].patient_set_id is not None
    assert all(r.request_path == "GET /imaging/worklist" for r in rows)
    with app.app_context():
        from webapp.audit.access_report import access_rows

        assert len(access_rows(order.patient_id, 10)) == 3


def test_a_queue_the_database_refuses_is_kept_and_written_later(app, make_user, make_order, monkeypatch):
    make_order("scheduled")
    missing = Table("no_such_table_for_access_rows", MetaData(), Column("id", Integer))
    monkeypatch.setattr(access, "_INSERT_ROWS", insert(missing))
    assert signed_in(app, make_user("technician")).get("/imaging/worklist", headers=REGION).status_code == 200
    batch = app.extensions["access_log_batch"]
    with pytest.raises(DBAPIError):
        batch.flush()
    assert batch.pending() == 1 and _rows(app) == [], "refused: kept, nothing half-written"
    monkeypatch.undo()
    monkeypatch.setattr(live_cache, "_minute", lambda: 29_000_000)
    rows = _wait_for(app, 1)  # the timer tries again
    assert len(rows) == 1 and batch.pending() == 0


def test_past_the_limit_a_read_is_written_before_its_answer(app, make_user, make_order, monkeypatch):
    make_order("scheduled")
    monkeypatch.setattr(access, "_MAX_PENDING", 1)
    first, second = (signed_in(app, make_user("technician")) for _ in range(2))
    assert first.get("/imaging/worklist", headers=REGION).status_code == 200
    assert second.get("/imaging/worklist", headers=REGION).status_code == 200
    assert len(_rows(app)) == 1, "the second read, past the limit, was written at once"
    assert app.extensions["access_log_batch"].pending() == 1


def test_with_batching_off_each_read_is_written_before_its_answer(app, database_url, events_redis_url, sse_channel,
                                                                  make_user, make_order):
    from webapp import create_app
    from webapp.config import TestConfig

    make_order("scheduled")
    unbatched = create_app(TestConfig(database_url, REDIS_URL=events_redis_url, SSE_CHANNEL=sse_channel,
                                      LIVE_RENDER_CACHE_SECONDS=30, ACCESS_LOG_BATCH_SECONDS=0))
    try:
        assert "access_log_batch" not in unbatched.extensions
        tablet = signed_in(unbatched, make_user("technician"))
        assert tablet.get("/imaging/worklist", headers=REGION).status_code == 200
        (row,) = _rows(app)
        assert row.patient_set_id is not None, "a shared region's read, written before its answer"
    finally:
        with unbatched.app_context():
            db.engine.dispose()


def test_a_page_and_its_own_patients_are_never_queued(app, make_user, make_order):
    """Only a GET whose read names a stored set alone is queued: the full page (and any read
    naming patients one by one) is written before its answer, as before."""
    make_order("scheduled")
    tablet = signed_in(app, make_user("technician"))
    assert tablet.get("/imaging/worklist").status_code == 200
    assert app.extensions["access_log_batch"].pending() == 0 and len(_rows(app)) == 1


def test_gunicorn_writes_a_workers_queue_when_it_exits(app, make_user, make_order):
    make_order("scheduled")
    assert signed_in(app, make_user("technician")).get("/imaging/worklist", headers=REGION).status_code == 200
    assert app.extensions["access_log_batch"].pending() == 1
    spec = importlib.util.spec_from_file_location("gunicorn_conf_for_test", ROOT / "gunicorn.conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    said = []

    class Log:
        def info(self, text, *args):
            said.append(text % args)

    conf.worker_exit(type("Server", (), {"log": Log()})(), None)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PatientAccessLog)) == 1
    assert said == ["Access log: 1 queued row(s) written at exit"]
