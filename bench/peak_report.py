"""The department-at-peak figures: percentiles, live delays, CPU, profiles and the table rows.

Pure functions over what ``bench/peak_load.py`` and the scanners recorded, so the table's
verdicts can be tested without a server (tests/bench/test_peak.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.common import percentile
from bench.scenarios import Row, verdict

# Targets on 2 cores (issue 18).
PAGES_P95_MS = 150.0
API_P95_MS = 75.0
LIVE_P95_MS = 500.0
CAPACITY_PAGES_P95_MS = 250.0
WORKLIST_P95_MS = 100.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


def stats(values_ms: list[float]) -> dict:
    if not values_ms:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    return {"n": len(values_ms), "p50": round(percentile(values_ms, 0.50), 2),
            "p95": round(percentile(values_ms, 0.95), 2), "p99": round(percentile(values_ms, 0.99), 2)}


def fmt(s: dict) -> str:
    return f"p50 {s['p50']:.1f} / p95 {s['p95']:.1f} / p99 {s['p99']:.1f} ms (n={s['n']:,})"


def kind(name: str) -> str:
    """pages, api, stream or dicom: what a request type's name starts with."""
    return {"page": "pages", "api": "api", "stream": "stream", "dicom": "dicom"}.get(name.split(":")[0], "other")


def grouped(samples: dict[str, list[float]]) -> dict[str, list[float]]:
    groups: dict[str, list[float]] = {}
    for name, values in samples.items():
        groups.setdefault(kind(name), []).extend(values)
    return groups


def live_delays(streams: list[dict], event_times: dict[int, float], started: float, finished: float,
                grace: float = 2.0) -> dict:
    """Commit → arrival at every stream open for the whole window: delays (ms) and lost events.

    ``event_times`` maps event id → the event row's time (written at its flush, just before the
    commit). An event of the window that a stream open all along never received is lost."""
    window = {eid: at for eid, at in event_times.items() if started <= at <= finished - grace}
    delays, lost, streams_checked, by_host = [], 0, 0, Counter()
    for stream in streams:
        if stream.get("opened") is None or stream["opened"] > started:
            continue
        streams_checked += 1
        received = {int(k): v for k, v in stream["events"].items()}
        for eid, at in window.items():
            if eid in received:
                delays.append((received[eid] - at) * 1000)
            else:
                lost += 1
                by_host[stream["host"]] += 1
    return {"delays": delays, "lost": lost, "events": len(window), "streams": streams_checked,
            "lost_by_host": dict(by_host), "failed_streams": [s for s in streams if s.get("opened") is None]}


@dataclass
class Phase:
    """One load run's figures, in the shape the table wants."""

    label: str
    pages: dict
    api: dict
    live: dict
    errors: int
    error_examples: dict
    lost: int
    events: int
    streams: int
    cpu: dict
    per_type: dict

    def within_targets(self) -> bool:
        return (self.pages["p95"] <= PAGES_P95_MS and self.api["p95"] <= API_P95_MS
                and self.live["p95"] <= LIVE_P95_MS and self.errors == 0 and self.lost == 0)

    def missed(self) -> list[str]:
        out = []
        if not self.pages["p95"] <= PAGES_P95_MS:
            out.append("pages")
        if not self.api["p95"] <= API_P95_MS:
            out.append("API")
        if not self.live["p95"] <= LIVE_P95_MS:
            out.append("live delay")
        if self.errors:
            out.append("errors")
        if self.lost:
            out.append("lost events")
        return out


def phase(label: str, load: dict, event_times: dict[int, float], cpu: dict, extra_samples=None,
          extra_errors=None) -> Phase:
    samples = dict(load["samples"]) | (extra_samples or {})
    errors = dict(load["errors"]) | (extra_errors or {})
    groups = grouped(samples)
    live = live_delays(load["streams"], event_times, load["started"], load["finished"])
    failed = len(live["failed_streams"])
    count = sum(len(v) for v in errors.values()) + failed
    examples = {name: values[:3] for name, values in errors.items() if values}
    if failed:
        examples["stream: open"] = [s.get("error") for s in live["failed_streams"][:3]]
    handled = len(groups.get("pages", [])) + len(groups.get("api", []))
    if handled and "gunicorn workers" in cpu:  # CPU time per request: steadier than latency on a busy machine
        cpu = cpu | {"worker CPU ms per page/API request":
                     cpu["gunicorn workers"] * (load["finished"] - load["started"]) * 1000 / handled}
    return Phase(label, stats(groups.get("pages", [])), stats(groups.get("api", [])), stats(live["delays"]),
                 count, examples, live["lost"], live["events"], live["streams"], cpu,
                 {name: stats(values) for name, values in sorted(samples.items())})


def phase_rows(p: Phase, backend: str = "postgresql") -> list[Row]:
    """The targets of one run, then every request type as information."""
    rows = [
        Row(f"{p.label}: pages p95", backend, fmt(p.pages), "", None, f"p95 ≤ {PAGES_P95_MS:.0f} ms",
            verdict(p.pages["p95"] <= PAGES_P95_MS)),
        Row(f"{p.label}: API p95", backend, fmt(p.api), "", None, f"p95 ≤ {API_P95_MS:.0f} ms",
            verdict(p.api["p95"] <= API_P95_MS)),
        Row(f"{p.label}: live delay commit → every stream", "redis",
            fmt(p.live) + f"; {p.events} events × {p.streams} streams", "", None, f"p95 ≤ {LIVE_P95_MS:.0f} ms",
            verdict(p.live["p95"] <= LIVE_P95_MS)),
        Row(f"{p.label}: errors", backend, f"{p.errors}" + (f" {p.error_examples}" if p.errors else ""), "", None,
            "0", verdict(p.errors == 0)),
        Row(f"{p.label}: lost events", "redis", f"{p.lost} of {p.events * p.streams:,} deliveries", "", None, "0",
            verdict(p.lost == 0)),
        Row(f"{p.label}: live re-fetches", backend, live_refetches(p), "", None, "(information)", "info"),
        Row(f"{p.label}: CPU (cores busy)", backend, ", ".join(f"{k} {v:.2f}" for k, v in p.cpu.items()), "", None,
            "(information)", "info"),
    ]
    for name, s in p.per_type.items():
        if kind(name) in ("pages", "api", "dicom"):
            rows.append(Row(f"{p.label}: {name}", backend, fmt(s), "", None, "(information)", "info"))
    return rows


def live_refetches(p: Phase) -> str:
    """How many page requests the events caused (each open page re-fetches its region)."""
    live = sum(s["n"] for name, s in p.per_type.items() if name.endswith("(live)"))
    pages = sum(s["n"] for name, s in p.per_type.items() if kind(name) == "pages")
    per_event = f", {live / p.events:.1f} per event" if p.events else ""
    return f"{live:,} of {pages:,} page requests were live re-fetches{per_event}"


def capacity_row(steps: list[dict], tablets: int, walls: int) -> Row:
    """The largest desk-staff step within every target, as "N staff, M tablets, K streams"."""
    good = [s for s in steps if s["within"]]
    trail = "; ".join(f"{s['desk']} staff: pages p95 {s['pages_p95']:.0f} ms, API p95 {s['api_p95']:.0f} ms, "
                      f"live p95 {s['live_p95']:.0f} ms, {s['errors']} errors" for s in steps)
    if not good:
        return Row("capacity: staff served within the targets", "postgresql", f"none of the steps ({trail})", "",
                   None, "largest step within targets", "FAIL", {"steps": steps})
    best = max(good, key=lambda s: s["desk"])
    figure = f"{best['desk']} staff, {tablets} tablets, {best['streams']} streams per 2 cores"
    return Row("capacity: staff served within the targets", "postgresql", f"{figure} ({trail})", "", None,
               "largest step within targets", "info", {"steps": steps})


def department_capacity_row(steps: list[dict]) -> Row:
    """The department model's figure: the most whole departments (staff, tablets, walls) one
    server of 2 cores served within every target."""
    trail = "; ".join(f"x{s['scale']} ({s['desk']} staff, {s['tablets']} tablets, {s['walls']} walls, "
                      f"{s['events']} events): pages p95 {s['pages_p95']:.0f} ms, API p95 {s['api_p95']:.0f} ms, "
                      f"live p95 {s['live_p95']:.0f} ms, {s['errors']} errors, {s['lost']} lost" for s in steps)
    good = [s for s in steps if s["within"]]
    if not good:
        return Row("department model: capacity within the targets", "postgresql", f"none of the steps ({trail})",
                   "", None, "one department within targets", "FAIL", {"steps": steps})
    best = max(good, key=lambda s: s["scale"])
    figure = f"{best['desk']} staff, {best['tablets']} tablets, {best['walls']} walls per 2 cores"
    return Row("department model: capacity within the targets", "postgresql", f"{figure} ({trail})", "", None,
               "one department within targets", "pass", {"steps": steps})


# ---------------------------------------------------------------------------- CPU and profiles


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime
    except (OSError, IndexError, ValueError):
        return 0


class CpuMeter:
    """Cores busy per named group of processes between start() and stop()."""

    def __init__(self, groups) -> None:
        self.groups = groups  # name -> callable returning pids

    def start(self) -> None:
        import time

        self.t0 = time.monotonic()
        self.before = {name: {pid: cpu_ticks(pid) for pid in pids()} for name, pids in self.groups.items()}

    def stop(self) -> dict[str, float]:
        import time

        elapsed = time.monotonic() - self.t0
        out = {}
        for name, pids in self.groups.items():
            now = {pid: cpu_ticks(pid) for pid in set(pids()) | set(self.before[name])}
            used = sum(ticks - self.before[name].get(pid, 0) for pid, ticks in now.items() if ticks)
            out[name] = used / CLK_TCK / elapsed if elapsed else 0.0
        return out


def start_profile(pids: list[int], seconds: int, out_dir: Path) -> list[tuple[subprocess.Popen, Path]]:
    """py-spy record (raw collapsed stacks) of each process for ``seconds``, in the background."""
    spy = Path(sys.executable).parent / "py-spy"
    running = []
    for pid in pids:
        path = out_dir / f"profile-{pid}.txt"
        process = subprocess.Popen([str(spy), "record", "--pid", str(pid), "--duration", str(seconds), "--rate",
                                    os.environ.get("BENCH_PROFILE_RATE", "50"),
                                    "--nonblocking", "--format", "raw", "--output", str(path)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        running.append((process, path))
    return running


def profile_summary(paths: list[Path], top: int = 12) -> dict:
    """Where the sampled processes' time went (py-spy raw stacks): the share of samples whose
    innermost frame is in each package (self time; ``gevent hub`` is idle), and the share of
    samples each of the app's own functions appears in (inclusive)."""
    by_package: Counter = Counter()
    app_frames: Counter = Counter()
    total = 0
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            total += n
            frames = stack.split(";")
            by_package[package_of(frames[-1]) if frames else "?"] += n
            for label in {frame_label(f) for f in frames if "webapp/" in f}:
                app_frames[label] += n
    if not total:
        return {"samples": 0, "self_by_package": [], "app_inclusive": []}
    share = lambda n: round(100 * n / total, 1)  # noqa: E731
    return {"samples": total, "self_by_package": [(p, share(n)) for p, n in by_package.most_common(top)],
            "app_inclusive": [(f, share(n)) for f, n in app_frames.most_common(top)
                              if not f.startswith(GENERIC_APP_FRAMES)]}


PACKAGES = ("webapp", "jinja2", "sqlalchemy", "psycopg", "flask_sse", "flask_openapi3", "flask_login", "flask_wtf",
            "flask", "werkzeug", "redis", "pydantic", "pydicom", "pynetdicom", "itsdangerous", "markupsafe",
            "gevent", "gunicorn", "json", "ssl", "socket", "selectors", "threading")
GENERIC_APP_FRAMES = ("__call__ (webapp/extensions.py", "dispatch_retrying", "run_in_transaction")


def package_of(frame: str) -> str:
    where = "/" + frame.partition(" (")[2]
    if "gevent/hub" in where or "gevent/_hub" in where or "libev" in where:
        return "gevent hub (idle)"
    for name in PACKAGES:
        if f"/{name}/" in where or f"/{name}.py" in where:
            return name
    return where.split(":")[0].rsplit("/", 1)[-1] or "?"


def frame_label(frame: str) -> str:
    """``function (path/webapp/x.py:line)`` → ``function (webapp/x.py)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    if "webapp/" not in where:
        return ""
    return f"{name.strip()} ({where[where.index('webapp/'):].split(':')[0]})"
