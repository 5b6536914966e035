from __future__ import annotations

import threading
import time
from collections import Counter

import hl7
import pytest
from hl7.client import MLLPClient
from sqlalchemy import select

from tests.hl7.peers import Receiver, free_port
from webapp.extensions import db
from webapp.outbox.models import OutboxMessage


@pytest.fixture
def receiver_port():
    return free_port()


@pytest.fixture
def receiver(receiver_port):
    peer = Receiver(receiver_port).start()
    yield peer
    peer.stop()


@pytest.fixture
def outbox_settings():
    """Quick retries for the tests; a module may override (e.g. OUTBOX_MAX_ATTEMPTS)."""
    return {"OUTBOX_RETRY_SECONDS": 0.05, "OUTBOX_RETRY_MAX_SECONDS": 0.2, "OUTBOX_POLL_SECONDS": 0.05,
            "HL7_TIMEOUT_SECONDS": 3.0}


@pytest.fixture
def app_config(receiver_port, outbox_settings):
    return {"HL7_OUTBOUND": [f"127.0.0.1:{receiver_port}"], **outbox_settings}


@pytest.fixture
def run_dispatchers(app):
    """run_dispatchers(n=1) starts n dispatchers in threads; all stop at the end of the test."""
    from webapp.outbox.dispatcher import Dispatcher

    running = []

    def start(count: int = 1, **kwargs):
        started = []
        for _ in range(count):
            dispatcher = Dispatcher(app, name=f"test-{len(running)}", **kwargs)
            stop = threading.Event()
            thread = threading.Thread(target=dispatcher.run, args=(stop,), daemon=True)
            thread.start()
            running.append((stop, thread))
            started.append(dispatcher)
        return started

    yield start
    for stop, _thread in running:
        stop.set()
    for _stop, thread in running:
        thread.join(15)


@pytest.fixture
def rounds(monkeypatch):
    """How many claims each dispatcher (by name) has finished: proof that one has looked, or that
    the round it was in when something happened is over (recorded)."""
    from webapp.outbox.dispatcher import Dispatcher

    done, real_claim = Counter(), Dispatcher.claim

    def counted(self):
        try:
            return real_claim(self)
        finally:
            done[self.name] += 1

    monkeypatch.setattr(Dispatcher, "claim", counted)
    return done


@pytest.fixture
def stalled_heartbeats(monkeypatch):
    """The dispatchers' heartbeat threads never get to write (a loaded machine, a lagging database):
    each dispatcher's only beat is its own, before its first claim."""
    from webapp import heartbeats

    real_beat = heartbeats.beat

    def beat(role, instance, **kwargs):
        if not threading.current_thread().name.startswith("heartbeat"):
            real_beat(role, instance, **kwargs)

    monkeypatch.setattr(heartbeats, "beat", beat)
    monkeypatch.setattr(heartbeats, "BEAT_SECONDS", 600.0)


def wait_until(condition, timeout: float = 20.0) -> bool:
    """Whether ``condition()`` came true within ``timeout`` seconds (generous: the machine is loaded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def outbox_rows(app) -> list[OutboxMessage]:
    with app.app_context():
        rows = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        db.session.expunge_all()
        return rows


@pytest.fixture
def listener(app):
    from webapp.hl7.listener import Listener

    server = Listener(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def send(listener):
    """send(text) -> the ACK parsed by python-hl7; one connection carries every message of a test."""
    client = MLLPClient("127.0.0.1", listener)

    def exchange(text: str) -> hl7.Message:
        answer = client.send_message(text.replace("\n", "\r"))
        return hl7.parse(answer.decode("utf-8").strip("\x0b\x1c\r"))

    yield exchange
    client.close()
