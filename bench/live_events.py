"""Live events: publish-to-receive latency through /stream beside raw Redis pub/sub, same run.

    .venv/bin/python -m bench.live_events                 # 10 and 300 clients
    .venv/bin/python -m bench.live_events --clients 10,300,1000 --messages 100

The app runs under gunicorn exactly as `make run` starts it (gunicorn.conf.py, gevent workers,
2 workers) on a throwaway SQLite database; N signed-in clients hold /stream open (read by one
selector loop in this process); events go out through the app's own after-commit publisher
(``publish_signals``, i.e. flask-sse's ``publish``) carrying the time they were sent. The
baseline is the same N subscribers on plain Redis pub/sub, the same messages, the same Redis.
Latency = receive time - publish time, over every client and message (p50/p95/p99).
Also: the workers' memory per open stream.

``run(redis_url=None, quick=False, clients=(10, 300), messages=None) -> list[dict]`` is what
``bench/run.py`` calls (scenario 5); each dict is one row of its table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET_P95_MS = 50.0
DATA_LINE = re.compile(rb"data:(\{[^\n]*\})\n")


def _percentiles(samples_ms: list[float]) -> dict:
    ordered = sorted(samples_ms)
    if not ordered:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "p99": float("nan")}

    def at(fraction: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))], 3)

    return {"n": len(ordered), "p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": round(ordered[-1], 3)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Readers:
    """Many sockets read by one selector loop; records (client, seq) -> receive time."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.buffers: dict[socket.socket, bytes] = {}
        self.received: dict[int, list[float]] = {}

    def add(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.buffers[sock] = b""
        self.selector.register(sock, selectors.EVENT_READ)

    def pump(self, until: float, expect: int | None = None) -> None:
        while time.time() < until:
            for key, _ in self.selector.select(timeout=max(0.0, min(0.05, until - time.time()))):
                sock = key.fileobj
                try:
                    chunk = sock.recv(65536)
                except BlockingIOError:
                    continue
                now = time.time()
                if not chunk:
                    self.selector.unregister(sock)
                    continue
                data = self.buffers[sock] + chunk
                last = 0
                for match in DATA_LINE.finditer(data):
                    payload = json.loads(match.group(1))
                    seq = payload.get("bench_seq")
                    if seq is not None:
                        self.received.setdefault(seq, []).append((now - payload["bench_sent"]) * 1000)
                    last = match.end()
                self.buffers[sock] = data[last:][-65536:]
            if expect is not None and sum(len(v) for v in self.received.values()) >= expect:
                return

    def close(self) -> None:
        for sock in list(self.buffers):
            try:
                self.selector.unregister(sock)
            except (KeyError, ValueError):
                pass
            sock.close()
        self.buffers.clear()


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _worker_pids(master: int) -> list[int]:
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return []
    pids = []
    for pid in map(int, children):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes() if Path(f"/proc/{pid}").exists() else b""
        if b"gunicorn" in cmdline:
            pids.append(pid)
    return pids


class Stack:
    """A database, the app under gunicorn, and a signed-in session cookie."""

    def __init__(self, redis_url: str, workers: int = 2) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="bench-live-"))
        self.redis_url = redis_url
        self.channel = f"bench-live:{os.getpid()}:{time.time_ns()}"
        self.database_url = f"sqlite:///{self.dir / 'live.db'}"
        self.secret = os.urandom(16).hex()
        os.environ["INSTANCE_PATH"] = str(self.dir / "instance")
        from webapp import create_app
        from webapp.config import TestConfig
        from webapp.extensions import db, writing
        from webapp.imaging.reference import load_reference_data

        self.app = create_app(TestConfig(self.database_url, REDIS_URL=redis_url, SECRET_KEY=self.secret,
                                         SSE_CHANNEL=self.channel))
        with self.app.app_context(), writing():
            db.create_all()
            load_reference_data()
            from webapp.cli import create_user

            # A staff account: the display role's stream carries counts-level events only, which
            # hold no payload to time (0 of 600 events arrived and the table said FAIL).
            user = create_user("bench-technician", "technician", "bench-password-2026")
            db.session.commit()
            self.cookie = self.app.session_interface.get_signing_serializer(self.app).dumps(
                {"_user_id": user.get_id(), "_fresh": True})
        self.port = _free_port()
        env = os.environ | {
            "DATABASE_URL": self.database_url, "REDIS_URL": redis_url, "SECRET_KEY": self.secret,
            "SSE_CHANNEL": self.channel, "HOST": "127.0.0.1", "PORT": str(self.port),
            "WEB_CONCURRENCY": str(workers), "ACCESS_LOG": "/dev/null",
            # Every client is this one account: the per-account cap must let them all in.
            "STREAM_MAX_PER_USER": "100000",
        }
        self.log = open(self.dir / "gunicorn.log", "w")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "--config", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if self.process.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"gunicorn did not start; see {self.log.name}") from None
                time.sleep(0.2)

    def open_stream(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        sock.sendall((f"GET /stream HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nAccept: text/event-stream\r\n"
                      f"Cookie: session={self.cookie}\r\n\r\n").encode())
        return sock

    def publish(self, seq: int) -> None:
        from webapp.events.publishing import publish_signals

        with self.app.app_context():
            publish_signals([{"id": "bench", "accession_number": "ACC-0000-00000", "status": "ordered", "version": 1,
                              "event_id": seq + 1, "bench_seq": seq, "bench_sent": time.time()}])

    def subscribers(self) -> int:
        client = redis.Redis.from_url(self.redis_url)
        return dict(client.pubsub_numsub(self.channel)).get(self.channel.encode(), 0)

    def close(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def _measure(publish, readers: Readers, clients: int, messages: int, gap: float) -> list[float]:
    readers.received.clear()
    for seq in range(messages):
        publish(seq)
        readers.pump(time.time() + gap)
    readers.pump(time.time() + 2.0, expect=clients * messages)
    return [value for values in readers.received.values() for value in values]


def measure_app(stack: Stack, clients: int, messages: int, gap: float) -> dict:
    workers = _worker_pids(stack.process.pid)
    readers = Readers()

    def connect(count: int) -> int:
        for _ in range(count):
            readers.add(stack.open_stream())
        deadline = time.time() + 60
        while stack.subscribers() < len(readers.buffers) and time.time() < deadline:
            readers.pump(time.time() + 0.1)
        readers.pump(time.time() + 0.5)
        return stack.subscribers()

    try:
        # A tenth of the streams first: the first requests of a worker load code and fill caches,
        # which is not what one more stream costs. Memory per stream is measured over the rest.
        warm = max(1, clients // 10)
        connect(warm)
        rss_before = sum(_rss_kb(pid) for pid in workers)
        connected = connect(clients - warm)
        rss_after = sum(_rss_kb(pid) for pid in workers)
        samples = _measure(stack.publish, readers, clients, messages, gap)
    finally:
        readers.close()
    measured = max(1, clients - warm)
    return _percentiles(samples) | {"connected": connected, "expected": clients * messages,
                                    "memory_per_stream_kb": round((rss_after - rss_before) / measured, 1),
                                    "memory_streams_measured": measured}


def measure_raw(redis_url: str, clients: int, messages: int, gap: float) -> dict:
    channel = f"bench-raw:{os.getpid()}:{time.time_ns()}"
    publisher = redis.Redis.from_url(redis_url)
    subscribers = []
    readers = Readers()
    try:
        for _ in range(clients):
            pubsub = redis.Redis.from_url(redis_url).pubsub()
            pubsub.subscribe(channel)
            pubsub.get_message(timeout=1)  # the subscribe confirmation
            subscribers.append(pubsub)
            readers.add(pubsub.connection._sock)

        def publish(seq: int) -> None:
            body = json.dumps({"bench_seq": seq, "bench_sent": time.time()})
            publisher.publish(channel, f"data:{body}\n")

        samples = _measure(publish, readers, clients, messages, gap)
    finally:
        for pubsub in subscribers:
            pubsub.connection._sock.setblocking(True)
        readers.buffers.clear()
        for pubsub in subscribers:
            pubsub.close()
    return _percentiles(samples) | {"expected": clients * messages}


def _fmt(stats: dict) -> str:
    return f"p50 {stats['p50']:.2f} / p95 {stats['p95']:.2f} / p99 {stats['p99']:.2f} ms"


def run(redis_url: str | None = None, quick: bool = False, clients=(10, 300), messages: int | None = None) -> list[dict]:
    """The rows of scenario 5: one per client count."""
    messages = messages or (20 if quick else 60)
    gap = 0.05
    embedded = None
    if not redis_url:
        from webapp.events.embedded import EmbeddedRedis

        embedded = EmbeddedRedis()
        redis_url = embedded.start()
    stack = Stack(redis_url)
    rows = []
    try:
        for count in clients:
            app = measure_app(stack, count, messages, gap)
            raw = measure_raw(redis_url, count, messages, gap)
            complete = app["n"] == app["expected"]
            target = TARGET_P95_MS if count >= 300 else None
            memory = f"; {app['memory_per_stream_kb']} KiB per stream (over {app['memory_streams_measured']})"
            ok = complete and (target is None or app["p95"] <= target)
            rows.append({
                "scenario": f"5. live events: publish→receive, {count} clients"
                            + ("" if complete else f" ({app['n']}/{app['expected']} received)"),
                "backend": "redis" + (" (embedded)" if embedded else ""),
                "measured": _fmt(app) + (memory if count >= 100 else ""),
                "baseline": "raw pub/sub " + _fmt(raw),
                "ratio": round(app["p95"] / raw["p95"], 2) if raw["p95"] else None,
                "target": f"p95 ≤ {TARGET_P95_MS:.0f} ms" if target else "all received",
                "result": "pass" if ok else "FAIL",
                "data": {"app": app, "raw": raw, "clients": count, "messages": messages},
            })
    finally:
        stack.close()
        if embedded:
            embedded.stop()
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="10,300")
    parser.add_argument("--messages", type=int, default=None)
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    rows = run(args.redis_url, args.quick, tuple(int(c) for c in args.clients.split(",")), args.messages)
    print("| scenario | backend | measured | raw baseline (same run) | ratio | target | result |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.2f}×"
        print(f"| {row['scenario']} | {row['backend']} | {row['measured']} | {row['baseline']} | {ratio} "
              f"| {row['target']} | {row['result']} |")


if __name__ == "__main__":
    main()
