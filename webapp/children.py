"""Background commands that ``make run`` starts beside the web server, and stops with it.

gunicorn's master (gunicorn.conf.py) starts each configured ``flask`` command below as a child
process once the server is ready and stops them on exit. Standard library only: the master must
not import the app. To add one, add a ChildCommand to COMMANDS.

Ctrl-C in the terminal reaches the whole process group: children ignore SIGINT and stop when the
master sends SIGTERM (after GRACEFUL seconds, SIGKILL). A child whose master died without
stopping it notices (its parent changes) and stops too (:func:`watch_parent`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
PARENT_ENV = "IMAGING_PARENT_PID"
GRACEFUL = 10.0


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


class Children:
    """The started commands; ``stop()`` ends them (SIGTERM, then SIGKILL after ``GRACEFUL`` s)."""

    def __init__(self) -> None:
        self.processes: list[tuple[str, subprocess.Popen]] = []

    def start(self, env: Mapping[str, str], log: Callable[[str], None], commands=COMMANDS) -> None:
        child_env = dict(env) | {PARENT_ENV: str(os.getpid())}
        for command in commands:
            arguments = command.arguments(env)
            if arguments is None:
                continue
            process = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", *arguments], cwd=ROOT, env=child_env,
                preexec_fn=_ignore_interrupts,
            )
            self.processes.append((command.name, process))
            log(f"Started {command.name} (pid {process.pid}): flask {' '.join(arguments)}")

    def stop(self, log: Callable[[str], None]) -> None:
        for _name, process in self.processes:
            if process.poll() is None:
                process.terminate()
        for name, process in self.processes:
            try:
                process.wait(GRACEFUL)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log(f"Stopped {name}")
        self.processes.clear()


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
