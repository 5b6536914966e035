"""`make run` with ORTHANC_URL: gunicorn's master starts `flask pacs follow` beside the workers,
studies sent to Orthanc reach their orders, and Ctrl-C stops the follower with everything else."""

from __future__ import annotations

import os
import re
import signal
import subprocess

import psutil
import pytest
from sqlalchemy import select

from tests.events.livestack import ROOT, free_port, wait_until
from tests.pacs.orthanc import order_study
from webapp.extensions import db
from webapp.pacs.models import PacsStudy


@pytest.mark.sqlite_only
def test_make_run_starts_the_follower_and_ctrl_c_stops_it(app, pacs, tmp_path, make_order):
    order = make_order("in_progress")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"} | {
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": app.config["SECRET_KEY"],
        "INSTANCE_PATH": str(tmp_path / "instance"), "HOST": "127.0.0.1", "PORT": str(port),
        "WEB_CONCURRENCY": "1", "ORTHANC_URL": pacs.url, "PACS_POLL_SECONDS": "0.3", "PYTHONUNBUFFERED": "1",
    }
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "--config", "gunicorn.conf.py", "wsgi:app"],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert wait_until(lambda: "PACS follower: following" in log_path.read_text(), 60), log_path.read_text()
        follower_pid = int(re.search(r"Started `flask pacs follow` \(pid (\d+)\)", log_path.read_text()).group(1))
        follower = psutil.Process(follower_pid)

        pacs.send(order_study(tmp_path, order, order.patient.mrn, series=(1,)))

        def matched() -> bool:
            with app.app_context():
                return db.session.scalar(select(PacsStudy.order_id)) == order.id

        assert wait_until(matched, 30), log_path.read_text()
        os.killpg(process.pid, signal.SIGINT)
        process.wait(30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    output = log_path.read_text()
    assert "PACS follower stopped." in output and "Stopped `flask pacs follow`" in output
    assert "Traceback" not in output, output
    assert not follower.is_running() or follower.status() == psutil.STATUS_ZOMBIE
