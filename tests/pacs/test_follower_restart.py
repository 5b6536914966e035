"""A study still arriving when Orthanc is killed is not lost (issue 26, item 3).

Orthanc keeps the studies it waits on (``StableAge``) in memory: killed before a study is stable,
it starts again with the study stored but never sends its ``StableStudy`` change (the feed ends
at ``NewInstance``/``NewStudy``). These tests kill a real Orthanc 1.10 (SIGKILL) before its
``StableAge`` (here 60 s) passes, start it again on the same storage, and check that the follower
records the study and matches it to its order within a bounded time, through each way it
reconciles (webapp/pacs/follower.py, docs/pacs.md "Following the PACS").
"""

from __future__ import annotations

import json
import shutil
import threading

import pytest
from sqlalchemy import func, select

from tests.events.livestack import wait_until
from tests.pacs.orthanc import OrthancServer, order_study
from tests.services import require
from webapp.extensions import db, writing
from webapp.imaging.models import OrderEvent
from webapp.pacs.follower import Follower, _set_position, position
from webapp.pacs.models import PacsStudy

STABLE_AGE = 60  # far longer than any test step: the study is never stable before the kill


@pytest.fixture
def slow_pacs(tmp_path):
    (tmp_path / "orthanc-restart").mkdir()
    server = OrthancServer(tmp_path / "orthanc-restart")
    config = json.loads(server.config.read_text())
    server.config.write_text(json.dumps(config | {"StableAge": STABLE_AGE}))
    require(shutil.which("Orthanc") is not None, "Orthanc (Debian package orthanc)")
    require(shutil.which("storescu") is not None, "dcmtk (storescu)")
    server.start()
    yield server
    if server.process and server.process.poll() is None:
        server.process.kill()
        server.process.wait(20)


@pytest.fixture
def app_config(database_url, slow_pacs):
    return {"WTF_CSRF_ENABLED": False, "ORTHANC_URL": slow_pacs.url, "ORTHANC_TIMEOUT": 2.0,
            "PACS_POLL_SECONDS": 0.2, "PACS_MAX_BACKOFF_SECONDS": 0.5, "PACS_STABLE_WAIT_SECONDS": 1.0,
            "PACS_RECONCILE_SECONDS": 600.0}


def _kill_and_restart(server: OrthancServer, gap: float = 0.0) -> None:
    server.process.kill()  # SIGKILL: Orthanc forgets the studies it was waiting on
    server.process.wait(20)
    if gap:
        threading.Event().wait(gap)
    server.start()


def _recorded(app, order) -> bool:
    with app.app_context():
        study = db.session.scalar(select(PacsStudy).where(PacsStudy.study_instance_uid == order.study_instance_uid))
        return study is not None and study.order_id == order.id and study.instance_count == 2


def _image_entries(app, order) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(OrderEvent).where(
            OrderEvent.order_id == order.id, OrderEvent.event_type == "images_received"))


def _arrive_unstable(app, server, tmp_path, order, follower: Follower) -> None:
    server.send(order_study(tmp_path, order, order.patient.mrn, series=(2,)))
    with app.app_context():
        assert follower.sync() == 0  # NewStudy seen, no StableStudy (StableAge is 60 s)
    changes = [c["ChangeType"] for c in server.get("/changes?since=0&limit=100")["Changes"]]
    assert "NewStudy" in changes and "StableStudy" not in changes


def test_the_follower_records_the_study_when_orthanc_answers_again(app, slow_pacs, tmp_path, make_order):
    """The follower is running; Orthanc is killed mid-arrival and is down for a few polls."""
    order = make_order("in_progress")
    follower = Follower(app)
    follower.stable_wait = 3600  # only the outage may trigger the reconcile here
    stop = threading.Event()
    thread = threading.Thread(target=follower.follow, args=(stop,), daemon=True)
    thread.start()
    try:
        slow_pacs.send(order_study(tmp_path, order, order.patient.mrn, series=(2,)))
        assert wait_until(lambda: slow_pacs.get("/changes?since=0&limit=100")["Changes"], 10)
        last = slow_pacs.get("/changes?since=0&limit=100")["Last"]

        def read_the_feed() -> bool:
            with app.app_context():
                return position() >= last

        assert wait_until(read_the_feed, 10)  # the follower has seen the study arriving
        _kill_and_restart(slow_pacs, gap=1.5)
        assert wait_until(lambda: _recorded(app, order), 20)
    finally:
        stop.set()
        thread.join(10)
    changes = [c["ChangeType"] for c in slow_pacs.get("/changes?since=0&limit=100")["Changes"]]
    assert "StableStudy" not in changes  # recorded without the change Orthanc never sent
    assert _image_entries(app, order) == 1


def test_a_study_with_no_stable_change_is_recorded_after_the_stable_wait(app, slow_pacs, tmp_path, make_order):
    """Orthanc restarted between two passes (the follower saw no outage): the wait catches it."""
    order = make_order("in_progress")
    follower = Follower(app)
    _arrive_unstable(app, slow_pacs, tmp_path, order, follower)
    _kill_and_restart(slow_pacs)
    with app.app_context():
        assert wait_until(lambda: follower.sync() == 1, 15, interval=0.3)
        assert follower.sync() == 0  # recorded once
    assert _recorded(app, order) and _image_entries(app, order) == 1


def test_a_new_follower_reconciles_the_recent_studies(app, slow_pacs, tmp_path, make_order):
    """The follower restarted too (it remembers nothing): the reconcile of recent study dates finds it."""
    order = make_order("in_progress")
    _arrive_unstable(app, slow_pacs, tmp_path, order, Follower(app))
    _kill_and_restart(slow_pacs)
    fresh = Follower(app)
    with app.app_context():
        assert fresh.sync() == 0  # the feed alone never brings it
        assert fresh.reconcile() == 1
        assert fresh.reconcile() == 0
    assert _recorded(app, order) and _image_entries(app, order) == 1


def test_a_feed_that_went_back_is_followed_from_its_end_and_reconciled(app, slow_pacs, tmp_path, make_order):
    """Orthanc came back with another database (its change numbers start again, ``Last`` below
    the stored position): the follower reconciles and follows the new feed from its end."""
    order = make_order("in_progress")
    _arrive_unstable(app, slow_pacs, tmp_path, order, Follower(app))
    _kill_and_restart(slow_pacs)
    with app.app_context(), writing():
        _set_position(10_000)
        db.session.commit()
    last = slow_pacs.get("/changes?since=0&limit=100")["Last"]
    assert 0 < last < 10_000
    with app.app_context():
        assert Follower(app).sync() == 1
        assert position() == last
        assert Follower(app).sync() == 0
    assert _recorded(app, order) and _image_entries(app, order) == 1
