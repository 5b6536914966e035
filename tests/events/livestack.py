"""Test helpers for live events: a Redis of a test's own, gunicorn as `make run` starts it,
a signed-in session cookie, and a small EventSource-like client (reconnects with Last-Event-ID)."""

from __future__ import annotations

import http.client
import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[2]
REDIS_SERVER = "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class RedisServer:
    """A redis-server of the test's own on a free port, to stop and start at will."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.dir = tmp_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir), "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        assert wait_until(self._ping, 10), "redis-server did not start"

    def _ping(self) -> bool:
        try:
            return redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping()
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


def session_cookie(app, user) -> str:
    """The session cookie Flask-Login reads, signed with the app's secret key."""
    serializer = app.session_interface.get_signing_serializer(app)
    return serializer.dumps({"_user_id": user.get_id(), "_fresh": True})


@dataclass
class LiveServer:
    """gunicorn with gevent workers, started the way `make run` starts it."""

    port: int
    process: subprocess.Popen
    log_path: Path
    env: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout: float = 30) -> float:
        """Stop the server; returns how long it took."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return time.monotonic() - started


def start_live_server(
    tmp_path: Path, env: dict, workers: int = 1, extra_args: tuple = (), port: int | None = None
) -> LiveServer:
    """Start gunicorn; once more if it died at start (a free port taken meanwhile by another test)."""
    try:
        return _start_live_server(tmp_path, env, workers, extra_args, port)
    except GunicornExited:
        time.sleep(1)
        return _start_live_server(tmp_path, env, workers, extra_args, port)


class GunicornExited(AssertionError):
    pass


def _start_live_server(tmp_path: Path, env: dict, workers: int, extra_args: tuple, port: int | None) -> LiveServer:
    port = port or free_port()
    log_path = tmp_path / f"gunicorn-{port}.log"
    full_env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    full_env.update({"HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": str(workers),
                     "GRACEFUL_TIMEOUT": "10"} | env)
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "--config", "gunicorn.conf.py",
             "--access-logformat", "%(p)s %(m)s %(U)s %(s)s", *extra_args, "wsgi:app"],
            cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
        )
    server = LiveServer(port, process, log_path, env)

    def up() -> bool:
        if process.poll() is not None:
            raise GunicornExited(f"gunicorn exited with {process.returncode}:\n{server.log()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    assert wait_until(up, 30), server.log()
    # Warm every worker up (imports, first database connection) before the test times anything.
    for _ in range(workers * 2):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)  # a busy machine boots slowly
        conn.request("GET", "/stream")
        conn.getresponse().read()
        conn.close()
    return server


@dataclass
class Event:
    type: str
    data: str
    id: str | None

    def json(self):
        return json.loads(self.data)


class SSEClient:
    """Reads /stream in a thread like a browser's EventSource: parses events and comments,
    reconnects after the stream ends (sending Last-Event-ID) when ``reconnect`` is set."""

    def __init__(self, base_url: str, cookie: str | None, *, last_event_id: str | None = None,
                 reconnect: bool = False, reconnect_delay: float = 0.3) -> None:
        self.host, self.port = base_url.split("//")[1].split(":")
        self.cookie = cookie
        self.last_event_id = last_event_id
        self.reconnect = reconnect
        self.reconnect_delay = reconnect_delay
        self.events: queue.Queue[Event] = queue.Queue()
        self.comments: list[tuple[float, str]] = []
        self.connects = 0
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.headers_at: float | None = None
        self.connected = threading.Event()
        self._closed = False
        self._conn: http.client.HTTPConnection | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.started_at = time.monotonic()
        self._thread.start()

    def _run(self) -> None:
        while not self._closed:
            try:
                self._read_once()
            except (OSError, http.client.HTTPException, ValueError, AttributeError):
                pass
            if not self.reconnect or self._closed:
                return
            time.sleep(self.reconnect_delay)

    def _read_once(self) -> None:
        conn = http.client.HTTPConnection(self.host, int(self.port), timeout=30)
        self._conn = conn
        headers = {"Accept": "text/event-stream"}
        if self.cookie:
            headers["Cookie"] = f"session={self.cookie}"
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        conn.request("GET", "/stream", headers=headers)
        response = conn.getresponse()
        self.status = response.status
        self.headers = {k.lower(): v for k, v in response.getheaders()}
        self.headers_at = time.monotonic()
        if response.status != 200:
            response.read()
            conn.close()
            return
        self.connects += 1
        self.connected.set()
        fields: dict[str, str] = {}
        while not self._closed:
            raw = response.readline()
            if not raw:
                break
            line = raw.decode().rstrip("\n")
            if line.startswith(":"):
                self.comments.append((time.monotonic(), line[1:].strip()))
            elif line == "":
                if "data" in fields:
                    if "id" in fields:
                        self.last_event_id = fields["id"]
                    self.events.put(Event(fields.get("event", "message"), fields["data"], fields.get("id")))
                fields = {}
            else:
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                fields[name] = fields[name] + "\n" + value if name == "data" and name in fields else value
        conn.close()

    def next_event(self, timeout: float = 5.0) -> Event:
        return self.events.get(timeout=timeout)

    def collect(self, count: int, timeout: float = 5.0) -> list[Event]:
        deadline = time.monotonic() + timeout
        got = []
        while len(got) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                got.append(self.events.get(timeout=remaining))
            except queue.Empty:
                break
        return got

    def close(self) -> None:
        """Go away like a closed browser tab: the socket is shut, nothing more is read."""
        self._closed = True
        if self._conn is not None and self._conn.sock is not None:
            try:
                self._conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._conn.close()


class SlowSenders:
    """Many sockets that send a request's headers at once and then its body a byte at a time,
    the way a slow-body attack holds a server's connections; one thread trickles and reads."""

    def __init__(self, port: int, count: int, *, path: str = "/api/v1/auth/token", interval: float = 1.0,
                 body_length: int = 10_000) -> None:
        self.port = port
        self.interval = interval
        self.replies: dict[socket.socket, bytes] = {}
        self.opened_at: dict[socket.socket, float] = {}
        self.ended_at: dict[socket.socket, float] = {}
        self._stop = threading.Event()
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {body_length}\r\n\r\n{{").encode()
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(head)
            sock.setblocking(False)
            self.replies[sock] = b""
            self.opened_at[sock] = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def open(self) -> list[socket.socket]:
        return [sock for sock in self.replies if sock not in self.ended_at]

    def _end(self, sock: socket.socket) -> None:
        self.ended_at.setdefault(sock, time.monotonic())

    def _run(self) -> None:
        import select

        next_byte = time.monotonic() + self.interval
        while not self._stop.is_set() and self.open:
            readable, _, _ = select.select(self.open, [], [], 0.05)
            for sock in readable:
                try:
                    chunk = sock.recv(65536)
                except OSError:
                    chunk = b""
                self.replies[sock] += chunk
                if not chunk:
                    self._end(sock)
            if time.monotonic() >= next_byte:
                next_byte += self.interval
                for sock in self.open:
                    try:
                        sock.send(b" ")
                    except BlockingIOError:
                        pass
                    except OSError:
                        self._end(sock)

    def answered(self, status: bytes = b"408") -> int:
        return sum(1 for reply in self.replies.values() if reply.startswith(b"HTTP/1.1 " + status))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in self.replies:
            sock.close()
