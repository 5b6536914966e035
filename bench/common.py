"""Shared helpers for the benchmark scripts: database URLs, the app, timing and the progress bar."""

from __future__ import annotations

import os
import socket
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

# The generated users all share this password (benchmark data only, never real patients).
BENCH_PASSWORD = "bench-password-2026"


def normalise_url(url: str) -> str:
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def is_postgres(url: str) -> bool:
    return normalise_url(url).startswith("postgresql")


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL as psycopg wants it (no +driver)."""
    return make_url(normalise_url(url)).set(drivername="postgresql").render_as_string(hide_password=False)


def sqlite_path(url: str) -> str:
    return make_url(url).database


def reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(normalise_url(url).replace("+psycopg", ""))
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def make_app(database_url: str, **overrides):
    """The real app (create_app with the normal Config) bound to ``database_url``."""
    from webapp import create_app
    from webapp.config import Config

    config = Config()
    config.SQLALCHEMY_DATABASE_URI = normalise_url(database_url)
    config.SQLALCHEMY_ENGINE_OPTIONS = {}
    for key, value in overrides.items():
        setattr(config, key, value)
    return create_app(config)


def ensure_postgres_database(url: str, *, fresh: bool) -> None:
    """Create the PostgreSQL database named in ``url`` (dropping it first when ``fresh``)."""
    import psycopg

    target = make_url(normalise_url(url))
    admin = libpq_url(target.set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target.database,)).fetchone()
        if exists and fresh:
            conn.execute(f'DROP DATABASE "{target.database}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{target.database}"')


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summarise(samples_s: list[float]) -> dict[str, float]:
    """p50/p95/mean in milliseconds."""
    ms = [s * 1000 for s in samples_s]
    return {
        "n": len(ms),
        "p50": round(percentile(ms, 0.50), 3),
        "p95": round(percentile(ms, 0.95), 3),
        "mean": round(statistics.fmean(ms), 3) if ms else float("nan"),
    }


def timed(fn, repeat: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def interleaved(fns: dict, repeat: int, warmup: int = 3) -> dict[str, list[float]]:
    """Time several functions alternately, so machine noise hits them alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return samples


class Progress:
    """A print-based progress bar on stderr (no extra dependency)."""

    def __init__(self, label: str, total: int, *, enabled: bool | None = None) -> None:
        self.label, self.total, self.done = label, max(total, 1), 0
        self.start = time.perf_counter()
        self.quiet = enabled is False
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._last = 0.0
        self._draw(force=True)

    def advance(self, amount: int = 1) -> None:
        self.done += amount
        self._draw()

    def _draw(self, force: bool = False) -> None:
        if self.quiet:
            return
        now = time.perf_counter()
        if not force and now - self._last < (0.2 if self.enabled else 5.0) and self.done < self.total:
            return
        self._last = now
        fraction = min(1.0, self.done / self.total)
        elapsed = now - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        bar = "#" * int(fraction * 30)
        line = f"{self.label:<22} [{bar:<30}] {fraction:6.1%} {self.done:>9,}/{self.total:,} {rate:9,.0f}/s"
        if self.enabled:
            print("\r" + line, end="", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        self.done = self.total
        self._draw(force=True)
        if self.enabled and not self.quiet:
            print(file=sys.stderr, flush=True)


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)
