"""Background commands are supervised (issue 26, item 2): after ``kill -9`` the outbox
dispatcher is started again, its claims are free again at once (not after the 90 s lease), and
/admin/outbox says whether a dispatcher is running and whether HL7 is configured at all."""

from __future__ import annotations

import os
import signal
import subprocess
from datetime import timedelta

import psutil
import pytest

from tests.events.livestack import ROOT, wait_until
from tests.hl7.peers import free_port
from webapp import heartbeats
from webapp.db_types import utcnow
from webapp.extensions import db, writing


def _dispatchers(pid: int) -> list[psutil.Process]:
    """The running dispatcher children of the master (a killed one not yet reaped is left out)."""
    found = []
    for child in psutil.Process(pid).children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "outbox" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            continue
    return found


@pytest.mark.sqlite_only
def test_a_killed_dispatcher_is_started_again(app, receiver, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"} | {
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": app.config["SECRET_KEY"],
        "INSTANCE_PATH": str(tmp_path / "instance"), "HOST": "127.0.0.1", "PORT": str(free_port()),
        "WEB_CONCURRENCY": "1", "HL7_OUTBOUND": receiver.destination,
    }
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "--config", "gunicorn.conf.py", "wsgi:app"],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert wait_until(lambda: len(_dispatchers(process.pid)) == 1, 60), log_path.read_text()
        first = _dispatchers(process.pid)[0]
        first.kill()  # kill -9
        assert wait_until(lambda: [d.pid for d in _dispatchers(process.pid)] not in ([], [first.pid]), 30), \
            log_path.read_text()
        assert f"outbox dispatcher (pid {first.pid}) ended; starting it again" in log_path.read_text()
        def beating() -> bool:
            with app.app_context():  # a new session each time: SQLite reads see a snapshot per transaction
                return heartbeats.is_alive(heartbeats.latest("outbox dispatcher"))

        assert wait_until(beating, 30)
        os.killpg(process.pid, signal.SIGINT)
        process.wait(30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    output = log_path.read_text()
    assert "Stopped outbox dispatcher" in output and "Traceback" not in output, output


def test_claims_of_a_dispatcher_that_stopped_beating_are_free_at_once(app, make_order):
    from sqlalchemy import select

    from webapp.outbox.dispatcher import due_messages
    from webapp.outbox.models import OutboxMessage

    order = make_order("ordered")
    now = utcnow()
    with app.app_context(), writing():
        message = OutboxMessage(order_id=order.id, destination="127.0.0.1:1", event_type="create", order_version=1,
                                kind="ORM^O01 NW", payload={}, claimed_by="ghost:1:abc",
                                claimed_until=now + timedelta(seconds=90))
        db.session.add(message)
        heartbeats.beat("outbox dispatcher", "ghost:1:abc", now=now)
        db.session.commit()
        # (make_order's own messages to the test receiver are due too: only this one matters here)
        due = lambda at: message.id in set(db.session.scalars(  # noqa: E731
            due_messages(at, 100, lock=False).with_only_columns(OutboxMessage.id)))
        assert not due(now + timedelta(seconds=1))  # its claimant is alive: nobody else sends it
        assert due(now + timedelta(seconds=heartbeats.STALE_SECONDS + 1))  # it stopped beating
        assert db.session.scalar(select(OutboxMessage.claimed_by).where(OutboxMessage.id == message.id))


def test_the_outbox_page_says_whether_a_dispatcher_runs_and_hl7_is_configured(app, client, auth):
    auth.login("admin")
    page = client.get("/admin/outbox").get_data(as_text=True)
    assert 'id="outbox-not-configured"' in page or app.config.get("HL7_OUTBOUND")
    assert "No outbox dispatcher has run yet." in page
    with app.app_context():
        heartbeats.beat("outbox dispatcher", "host-a:42:abc")
    page = client.get("/admin/outbox").get_data(as_text=True)
    assert "Dispatcher running on host-a:42" in page
    with app.app_context(), writing():
        heartbeats.beat("outbox dispatcher", "host-a:42:abc", now=utcnow() - timedelta(minutes=5))
        db.session.commit()
    page = client.get("/admin/outbox").get_data(as_text=True)
    assert "No outbox dispatcher is running" in page
