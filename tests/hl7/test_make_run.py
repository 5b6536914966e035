"""`make run` with HL7_OUTBOUND and HL7_INBOUND_PORT: the gunicorn master starts the outbox
dispatcher and the HL7 listener beside the server, and Ctrl-C stops them with it."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import hl7
import psutil
import pytest
from hl7.client import MLLPClient

from tests.events.livestack import ROOT, wait_until
from tests.hl7.peers import field, free_port
from tests.hl7.test_inbound import orm


@pytest.mark.sqlite_only
def test_make_run_starts_the_dispatcher_and_the_listener(app, receiver, make_user, tmp_path):
    make_user("doctor", username="drhouse")
    port, hl7_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"} | {
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": app.config["SECRET_KEY"],
        "INSTANCE_PATH": str(tmp_path / "instance"), "HOST": "127.0.0.1", "PORT": str(port),
        "WEB_CONCURRENCY": "1", "HL7_OUTBOUND": receiver.destination, "HL7_INBOUND_PORT": str(hl7_port),
        "OUTBOX_POLL_SECONDS": "0.1",
    }
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "--config", "gunicorn.conf.py", "wsgi:app"],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert wait_until(lambda: "HL7 listener on" in log_path.read_text()
                          and "Outbox dispatcher" in log_path.read_text(), 60), log_path.read_text()
        children = psutil.Process(process.pid).children()
        flask_children = [c for c in children if "flask" in " ".join(c.cmdline())]
        assert len(flask_children) == 2, [c.cmdline() for c in children]

        # An EHR's order comes in; the outbox sends it out again to the receiver.
        with MLLPClient("127.0.0.1", hl7_port) as client:
            ack = hl7.parse(client.send_message(orm()).decode().strip("\x0b\x1c\r"))
        assert str(ack.segment("MSA")(1)) == "AA", str(ack)
        accession = str(ack.segment("MSA")(3))
        started = time.monotonic()
        messages = receiver.wait_for(1, timeout=20)
        assert [field(m, "ORC", 3) for m in messages] == [accession], log_path.read_text()
        assert time.monotonic() - started < 10

        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C
        process.wait(30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    output = log_path.read_text()
    assert "Stopped outbox dispatcher" in output and "Stopped HL7 listener" in output, output
    assert "Traceback" not in output, output
    assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in flask_children)
