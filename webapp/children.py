"""Commands `make run` keeps running beside the web server: started by gunicorn's master after
it starts (gunicorn.conf.py), stopped when it exits. Standard library only: the master must not
import the app (gunicorn.conf.py loads this file on its own).

gunicorn.conf.py picks the commands whose setting is present and passes them with the master's
environment (so the embedded Redis's REDIS_URL too); each runs as
``python -m flask --app wsgi <arguments>`` from the repository root. Ctrl-C
in the terminal reaches them with the rest of the process group; on any exit the master sends
SIGTERM, waits, and kills what is left.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time


class Children:
    def __init__(self, commands, root: str, env: dict[str, str]) -> None:
        self.commands = [tuple(args) for args in commands]
        self.root = root
        self.env = env
        self.processes: list[tuple[str, subprocess.Popen]] = []

    def start(self, log) -> None:
        for args in self.commands:
            name = " ".join(args)
            process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=self.root,
                                       env=self.env)
            self.processes.append((name, process))
            log.info("Started `flask %s` (pid %s)", name, process.pid)

    def stop(self, log, timeout: float = 10.0) -> None:
        for _name, process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name, process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.info("Stopped `flask %s`", name)
        self.processes = []
