"""Background commands that ``make run`` starts beside the web server, and stops with it.

gunicorn's master (gunicorn.conf.py) starts each configured ``flask`` command below as a child
process once the server is ready and stops them on exit. Standard library only: the master must
not import the app. To add one, add a ChildCommand to COMMANDS.

Ctrl-C in the terminal reaches the whole process group: children ignore SIGINT and stop when the
master sends SIGTERM (after GRACEFUL seconds, SIGKILL). A child whose master died without
stopping it notices (its parent changes) and stops too (:func:`watch_parent`).

The master supervises them: a child that ends on its own (it crashed, or was killed) is started
again after a pause that doubles with each quick end (1 s, 2 s, … at most MAX_BACKOFF s) and is
forgotten once it has run STABLE seconds. Each child also writes a heartbeat to the database
(``webapp.heartbeats``), which ``/admin/outbox`` shows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
PARENT_ENV = "IMAGING_PARENT_PID"
GRACEFUL = 10.0
CHECK_EVERY, FIRST_BACKOFF, MAX_BACKOFF, STABLE = 0.5, 1.0, 60.0, 60.0


class ChildCommand(NamedTuple):  # not a dataclass: gunicorn.conf.py loads this file outside sys.modules
    name: str
    # The flask command's arguments for this environment; None when it is not configured.
    arguments: Callable[[Mapping[str, str]], list[str] | None]


def _hl7_listener(env: Mapping[str, str]) -> list[str] | None:
    port = env.get("HL7_INBOUND_PORT", "").strip()
    return ["hl7", "listen", "--port", port] if port else None


def _pacs_follower(env: Mapping[str, str]) -> list[str] | None:
    return ["pacs", "follow"] if env.get("ORTHANC_URL", "").strip() else None


COMMANDS: tuple[ChildCommand, ...] = (
    # Also escalates overdue critical results (webapp.reporting.escalation): always started.
    ChildCommand("outbox dispatcher", lambda env: ["outbox", "run"]),
    ChildCommand("HL7 listener", _hl7_listener),
    ChildCommand("PACS follower", _pacs_follower),
)


def _ignore_interrupts() -> None:  # in the child, before exec: SIG_IGN survives exec
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Child:
    """One supervised command: its process now, and when to start it again if it ends."""

    def __init__(self, name: str, arguments: list[str]) -> None:
        self.name, self.arguments = name, arguments
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0
        self.backoff = FIRST_BACKOFF
        self.restart_at: float | None = None
        self.restarts = 0


class Children:
    """The started commands, supervised; ``stop()`` ends them (SIGTERM, then SIGKILL after ``GRACEFUL`` s)."""

    def __init__(self) -> None:
        self.children: list[Child] = []
        self.env: dict[str, str] = {}
        self.log: Callable[[str], None] = print
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.supervisor: threading.Thread | None = None

    @property
    def processes(self) -> list[tuple[str, subprocess.Popen]]:
        return [(child.name, child.process) for child in self.children if child.process is not None]

    def start(self, env: Mapping[str, str], log: Callable[[str], None], commands=COMMANDS) -> None:
        self.env, self.log = dict(env) | {PARENT_ENV: str(os.getpid())}, log
        for command in commands:
            arguments = command.arguments(env)
            if arguments is None:
                continue
            child = Child(command.name, arguments)
            self._launch(child)
            self.children.append(child)
        self.supervisor = threading.Thread(target=self._supervise, name="children-supervisor", daemon=True)
        self.supervisor.start()

    def _launch(self, child: Child) -> None:
        child.process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", *child.arguments], cwd=ROOT, env=self.env,
            preexec_fn=_ignore_interrupts,
        )
        child.started_at, child.restart_at = time.monotonic(), None
        self.log(f"Started {child.name} (pid {child.process.pid}): flask {' '.join(child.arguments)}")

    def _supervise(self) -> None:
        while not self.stopping.wait(CHECK_EVERY):
            with self.lock:
                if self.stopping.is_set():
                    return
                for child in self.children:
                    self._check(child, time.monotonic())

    def _check(self, child: Child, now: float) -> None:
        if child.restart_at is not None:
            if now >= child.restart_at:
                child.restarts += 1
                self._launch(child)
            return
        # gunicorn's master reaps every child it has (SIGCHLD), so the exit status is often lost
        # here: that a child ended is all that is known for sure.
        if child.process.poll() is None:
            if now - child.started_at >= STABLE:
                child.backoff = FIRST_BACKOFF  # it has run a while: the next end starts quickly again
            return
        if now - child.started_at >= STABLE:
            child.backoff = FIRST_BACKOFF
        child.restart_at = now + child.backoff
        self.log(f"{child.name} (pid {child.process.pid}) ended; starting it again in {child.backoff:g} s")
        child.backoff = min(child.backoff * 2, MAX_BACKOFF)

    def stop(self, log: Callable[[str], None]) -> None:
        self.stopping.set()
        with self.lock:
            for child in self.children:
                if child.process is not None and child.process.poll() is None:
                    child.process.terminate()
            for child in self.children:
                if child.process is None:
                    continue
                try:
                    child.process.wait(GRACEFUL)
                except subprocess.TimeoutExpired:
                    child.process.kill()
                    child.process.wait()
                log(f"Stopped {child.name}")
            self.children.clear()


def watch_parent(stop: Callable[[], None], interval: float = 1.0) -> None:
    """Started by ``make run`` (IMAGING_PARENT_PID set): call ``stop`` once that parent is gone."""
    expected = os.environ.get(PARENT_ENV)
    if not expected:
        return

    def watch() -> None:
        while os.getppid() == int(expected):
            threading.Event().wait(interval)
        stop()

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()
