"""A department at peak: every role at once against gunicorn on PostgreSQL (`make bench-peak`).

    .venv/bin/python -m bench.peak                      # what `make bench-peak` runs
    BENCH_PEAK_SECONDS=30 BENCH_PEAK_STEPS=90 .venv/bin/python -m bench.peak   # a short run
    BENCH_PEAK_MODELS=department BENCH_PEAK_TWO_HOSTS_SECONDS=0 BENCH_PEAK_WORKLIST=0 .venv/bin/python -m bench.peak

Phases, one table (bench/README.md, "Department at peak"):

1. peak: 60 desk staff, 20 tablets, 3 wall displays (bench/peak_load.py, Locust) and 10 scanners
   (bench/peak_dicom.py) against one gunicorn (gunicorn.conf.py, 2 gevent workers) for
   BENCH_PEAK_SECONDS (180) after a warm-up; the workers are profiled with py-spy at the end;
2. two hosts: the same against two gunicorn instances (1 worker each, two ports) sharing
   PostgreSQL and Redis, requests round robin; every event must reach the streams of both;
3. capacity: desk staff stepped up (BENCH_PEAK_STEPS, 90,120,160,200) until pages p95 passes
   250 ms or errors appear, within the time budget; when the peak itself misses a target, down
   (BENCH_PEAK_STEPS_DOWN, 30,15,5) until a step meets every target;
   (then, with BENCH_PEAK_MODELS holding "department", the department model: whole departments at
   the pace of a large department's busiest hour, 1, 2, 3… while every target holds; bench/README.md,
   "Two load models");
4. the worklist at scale: 10,000 orders of one modality booked for today, C-FIND beside its raw
   SQL, and MPPS N-CREATE round trips.

PostgreSQL: BENCH_DATABASE_URL, else TEST_DATABASE_URL, else postgres@127.0.0.1:5432 (database
``imaging_peak_<orders>``, generated, or kept with BENCH_REUSE=1). Redis: BENCH_REDIS_URL /
TEST_REDIS_URL / REDIS_URL / 127.0.0.1:6379, else an embedded one started here.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy.engine import make_url  # noqa: E402

from bench import peak_data, peak_report  # noqa: E402
from bench.common import DEFAULT_PG_SERVER, RESULTS, ROOT, make_app, normalise_url, reachable  # noqa: E402
from bench.live_events import _worker_pids  # noqa: E402
from bench.run import HEADER, redis_url  # noqa: E402
from bench.scenarios import RawDriver, Row, free_port, verdict  # noqa: E402


def setting(name: str, default):
    value = os.environ.get(name)
    return type(default)(value) if value not in (None, "") else default


class Settings:
    def __init__(self) -> None:
        self.orders = setting("BENCH_PEAK_ORDERS", 100_000)
        self.seconds = setting("BENCH_PEAK_SECONDS", 180)
        self.warmup = setting("BENCH_PEAK_WARMUP", 15)
        self.desk = setting("BENCH_PEAK_DESK", 60)
        self.tablets = setting("BENCH_PEAK_TABLETS", 20)
        self.walls = setting("BENCH_PEAK_WALLS", 3)
        self.scanners = setting("BENCH_PEAK_SCANNERS", 10)
        self.two_hosts_seconds = setting("BENCH_PEAK_TWO_HOSTS_SECONDS", 40)
        self.step_seconds = setting("BENCH_PEAK_STEP_SECONDS", 25)
        self.steps = [int(s) for s in setting("BENCH_PEAK_STEPS", "90,120,160,200").split(",") if s.strip()]
        self.steps_down = [int(s) for s in setting("BENCH_PEAK_STEPS_DOWN", "30,15,5").split(",") if s.strip()]
        self.worklist = setting("BENCH_PEAK_WORKLIST", 10_000)
        self.desk_streams = setting("BENCH_PEAK_DESK_STREAMS", 1) == 1
        self.budget = setting("BENCH_PEAK_BUDGET", 840)
        self.cfind_repeat = setting("BENCH_PEAK_CFIND_REPEAT", 15)
        self.reuse = os.environ.get("BENCH_REUSE") == "1"
        # Both load models by default (bench/README.md, "Two load models").
        self.models = setting("BENCH_PEAK_MODELS", "stress,department").split(",")
        self.department_seconds = setting("BENCH_PEAK_DEPARTMENT_SECONDS", 90)
        self.department_steps = [int(s) for s in setting("BENCH_PEAK_DEPARTMENT_STEPS", "1,2,3").split(",")
                                 if s.strip()]


# ---------------------------------------------------------------------------- processes


def wait_for_port(port: int, process: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"process did not start listening; see {log}") from None
            time.sleep(0.2)


@contextmanager
def started(command: list[str], env: dict, port: int, name: str):
    log = RESULTS / f"peak-{name}.log"
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=os.environ | env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, process, log)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def gunicorn(env: dict, workers: int, name: str):
    port = free_port()
    command = [str(Path(sys.executable).parent / "gunicorn"), "--config", "gunicorn.conf.py", "wsgi:app"]
    server_env = env | {"HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": str(workers),
                        "ACCESS_LOG": "/dev/null"}
    return port, started(command, server_env, port, name)


def postgres_pids(url: str) -> list[int]:
    import psycopg

    from bench.common import libpq_url

    try:
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            return [r[0] for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
    except psycopg.Error:
        return []


# ---------------------------------------------------------------------------- one load run


class Bench:
    def __init__(self, settings: Settings, url: str, redis: str, secret: str, began: float) -> None:
        self.s, self.url, self.redis, self.secret = settings, url, redis, secret
        self.channel = f"imaging-orders:peak:{os.getpid()}"
        self.env = {"DATABASE_URL": url, "REDIS_URL": redis, "SECRET_KEY": secret, "SSE_CHANNEL": self.channel}
        self.began = began  # the budget counts from the start, generating included
        self.profile: dict = {}

    def elapsed(self) -> float:
        return time.monotonic() - self.began

    def load(self, label: str, hosts: list[tuple[int, subprocess.Popen]], desk: int, seconds: int, *,
             warmup: int, profile: bool = False, model: str = "stress", scale: int = 1) -> peak_report.Phase:
        """One run of the load tool with the scanners beside it; its figures. ``model``: the stress
        model's think times or the department's (bench/peak_load.py, DEPARTMENT); ``scale``
        multiplies the tablets and walls (a department model step is whole departments)."""
        from bench.peak_dicom import Scanners

        counts = peak_data.desk_counts(desk) | {"tablet": self.s.tablets * scale, "wall": self.s.walls * scale}
        ramp = 10
        config = self.base_config | {"hosts": [f"http://127.0.0.1:{port}" for port, _ in hosts], "counts": counts,
                                     "seconds": seconds, "warmup_seconds": warmup, "ramp_seconds": ramp,
                                     "model": model}
        name = label.split(":")[0].replace(" ", "-")
        config_path, result_path = RESULTS / f"peak-{name}-config.json", RESULTS / f"peak-{name}-result.json"
        config_path.write_text(json.dumps(config))
        first_event = peak_data.last_event_id(self.url)
        scanners = Scanners(self.dicom_port, peak_data.SCANNERS[: self.s.scanners], self.today)
        scanners.start()
        load = subprocess.Popen([sys.executable, "-m", "bench.peak_load", str(config_path), str(result_path)],
                                cwd=ROOT)
        workers = lambda: [pid for _, p in hosts for pid in _worker_pids(p.pid)]  # noqa: E731
        meter = peak_report.CpuMeter({
            "gunicorn workers": workers, "PostgreSQL backends": lambda: postgres_pids(self.url),
            "DICOM service": lambda: [self.dicom_pid], "load tool (Locust)": lambda: [load.pid],
        })
        time.sleep(ramp + warmup)
        scanners.measuring = True
        meter.start()
        spies = []
        if profile:
            time.sleep(max(0, seconds - 20))
            spies = peak_report.start_profile(workers(), min(20, seconds), RESULTS)
            time.sleep(min(20, seconds))
        else:
            time.sleep(seconds)
        cpu = meter.stop()
        scanners.measuring = False
        load.wait(timeout=120)
        scanners.close()
        for spy, _ in spies:
            spy.wait(timeout=60)
        if spies:
            self.profile = peak_report.profile_summary([path for _, path in spies])
        result = json.loads(result_path.read_text())
        times = peak_data.event_times(self.url, first_event)
        p = peak_report.phase(label, result, times, cpu, scanners.samples, scanners.errors)
        p.lost_by_host = peak_report.live_delays(result["streams"], times, result["started"], result["finished"])[
            "lost_by_host"]
        p.streams_by_host = {}
        for stream in result["streams"]:
            p.streams_by_host[stream["host"]] = p.streams_by_host.get(stream["host"], 0) + 1
        print(f"[peak] {label}: pages p95 {p.pages['p95']} ms, API p95 {p.api['p95']} ms, live p95 "
              f"{p.live['p95']} ms, {p.errors} errors, {p.lost} lost ({self.elapsed():.0f} s)", file=sys.stderr)
        return p


def run_phases(bench: Bench, settings: Settings, rows: list[Row], report: dict) -> None:
    with ExitStack() as stack:
        port, server = gunicorn(bench.env, 2, "gunicorn")
        process = stack.enter_context(server)
        if "stress" in settings.models:
            stress_phases(bench, settings, port, process, rows, report)
        if "department" in settings.models:
            department_phases(bench, settings, [(port, process)], rows, report)
        stack.close()
    if settings.two_hosts_seconds <= 0:
        return
    with ExitStack() as stack:
        hosts = []
        for name in ("host-a", "host-b"):
            port, server = gunicorn(bench.env, 1, name)
            hosts.append((port, stack.enter_context(server)))
        two = bench.load("two hosts", hosts, settings.desk, settings.two_hosts_seconds, warmup=5)
        # The targets and the CPU; the request types are in the JSON report.
        rows.extend(r for r in peak_report.phase_rows(two) if r.result != "info" or "CPU" in r.scenario)
        both = all(count for count in two.streams_by_host.values()) and len(two.streams_by_host) == 2
        rows.append(Row("two hosts: every event reaches the streams of both instances", "redis",
                        f"streams per instance {list(two.streams_by_host.values())}, lost per instance "
                        f"{two.lost_by_host or 0}", "", None, "0 lost on each", verdict(both and two.lost == 0)))
        report["two_hosts"] = two.__dict__


def stress_phases(bench: Bench, settings: Settings, port: int, process, rows: list[Row], report: dict) -> None:
    """The stress model: the peak, then capacity steps of desk staff."""
    peak = bench.load("peak", [(port, process)], settings.desk, settings.seconds, warmup=settings.warmup,
                      profile=True)
    rows.extend(peak_report.phase_rows(peak))
    report["peak"] = peak.__dict__
    report["profile"] = bench.profile
    steps = [step_of(peak, settings.desk)]
    # Up while the last step held (pages p95 under 250 ms, no errors); when the peak itself
    # missed its targets, down until a step meets them, so there is a figure either way.
    down = not steps[0]["within"]
    for desk in settings.steps_down if down else settings.steps:
        if down and steps[-1]["within"]:
            break
        if not down and (steps[-1]["pages_p95"] > peak_report.CAPACITY_PAGES_P95_MS or steps[-1]["errors"]):
            break
        # A step, then the two hosts and the worklist at scale, must still fit in the budget.
        if bench.elapsed() + settings.step_seconds + 25 + settings.two_hosts_seconds + 25 + 75 > settings.budget:
            print(f"[peak] capacity: no time left for {desk} staff", file=sys.stderr)
            break
        p = bench.load(f"capacity {desk}", [(port, process)], desk, settings.step_seconds, warmup=5)
        steps.append(step_of(p, desk))
        rows.append(Row(f"capacity step: {desk} staff", "postgresql",
                        f"pages {peak_report.fmt(p.pages)}; API p95 {p.api['p95']:.0f} ms; live p95 "
                        f"{p.live['p95']:.0f} ms; {p.errors} errors; CPU "
                        + ", ".join(f"{k} {v:.2f}" for k, v in p.cpu.items()),
                        "", None, "(step)", "info", {"errors": p.error_examples}))
    rows.append(peak_report.capacity_row(steps, settings.tablets, settings.walls))
    report["capacity"] = steps


def department_phases(bench: Bench, settings: Settings, hosts, rows: list[Row], report: dict) -> None:
    """The department model (bench/README.md, "Two load models"): one department (the peak's
    desk staff, tablets and walls at the department's think times), then two, three… on the same
    server while every target holds, within the time budget."""
    steps = []
    for scale in settings.department_steps:
        if bench.elapsed() + settings.department_seconds + 25 + settings.two_hosts_seconds + 25 + 75 > settings.budget:
            print(f"[peak] department model: no time left for {scale} department(s)", file=sys.stderr)
            break
        label = f"department x{scale}"
        first = scale == settings.department_steps[0]
        p = bench.load(label, hosts, settings.desk * scale, settings.department_seconds, warmup=10,
                       model="department", scale=scale, profile=first)
        if first:
            report["department_profile"] = bench.profile
        step = step_of(p, settings.desk * scale) | {"scale": scale, "tablets": settings.tablets * scale,
                                                      "walls": settings.walls * scale, "events": p.events}
        steps.append(step)
        if first:
            rows.extend(peak_report.phase_rows(p))
        else:
            rows.append(Row(f"{label}: targets", "postgresql",
                            f"pages {peak_report.fmt(p.pages)}; API p95 {p.api['p95']:.0f} ms; live p95 "
                            f"{p.live['p95']:.0f} ms; {p.errors} errors, {p.lost} lost; {p.events} events; CPU "
                            + ", ".join(f"{k} {v:.2f}" for k, v in p.cpu.items()),
                            "", None, "(step)", "info", {"errors": p.error_examples}))
        if not step["within"]:
            break
    report["department"] = steps
    rows.append(peak_report.department_capacity_row(steps))


def step_of(p: peak_report.Phase, desk: int) -> dict:
    return {"desk": desk, "pages_p95": p.pages["p95"], "api_p95": p.api["p95"], "live_p95": p.live["p95"],
            "errors": p.errors, "lost": p.lost, "streams": p.streams, "within": p.within_targets(), "cpu": p.cpu}


def worklist_rows(bench: Bench, settings: Settings, app) -> tuple[list[Row], dict]:
    from bench.peak_dicom import worklist_at_scale

    booked = peak_data.book_worklist(bench.url, "CT", settings.worklist)
    raw = RawDriver(bench.url)
    spies = peak_report.start_profile([bench.dicom_pid], 15, RESULTS)
    try:
        result = worklist_at_scale(app, bench.dicom_port, "CT", bench.today, raw, repeat=settings.cfind_repeat,
                                   creates=20)
    finally:
        raw.close()
        for spy, _ in spies:
            spy.wait(timeout=60)
    result["profile"] = peak_report.profile_summary([path for _, path in spies])
    find = peak_report.stats(result["samples"].get("dicom: worklist C-FIND", []))
    sql = peak_report.stats(result["samples"].get("raw SQL", []))
    create = peak_report.stats(result["samples"].get("dicom: MPPS N-CREATE", []))
    errors = sum(len(v) for v in result["errors"].values())
    ok = find["p95"] <= peak_report.WORKLIST_P95_MS and not errors
    rows = [
        Row(f"worklist at scale: C-FIND CT + today over {settings.worklist:,} booked ({result['items']:,} items "
            "answered)", "postgresql", peak_report.fmt(find), f"raw SQL {peak_report.fmt(sql)}",
            find["p50"] / sql["p50"] if sql["p50"] else None, f"p95 ≤ {peak_report.WORKLIST_P95_MS:.0f} ms",
            verdict(ok)),
        Row("worklist at scale: MPPS N-CREATE round trip", "postgresql",
            peak_report.fmt(create) + (f"; errors {result['errors']}" if errors else ""), "", None, "(information)",
            "info" if not errors else "FAIL"),
    ]
    return rows, {"booked": booked} | result


def main() -> int:
    settings = Settings()
    RESULTS.mkdir(parents=True, exist_ok=True)
    server = normalise_url(os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
                           or DEFAULT_PG_SERVER)
    if not reachable(server, 5432):
        print(f"PostgreSQL at {make_url(server).host} is not reachable: the peak benchmark needs it.", file=sys.stderr)
        return 2
    url = make_url(server).set(database=f"imaging_peak_{settings.orders}").render_as_string(hide_password=False)
    started_at, began = datetime.now(UTC), time.monotonic()
    rows: list[Row] = []
    report: dict = {"started": started_at.isoformat(), "settings": settings.__dict__,
                    "load_before": os.getloadavg()}
    with ExitStack() as stack:
        redis = redis_url()
        if not redis:
            from webapp.events.embedded import EmbeddedRedis

            embedded = EmbeddedRedis()
            redis = embedded.start()
            stack.callback(embedded.stop)
        report["data"] = peak_data.ensure_database(url, settings.orders, settings.reuse)
        bench = Bench(settings, url, redis, os.urandom(24).hex(), began)
        app = make_app(url, SECRET_KEY=bench.secret, REDIS_URL=redis)
        prepared = peak_data.prepare(app)
        most = max([settings.desk, *settings.steps])
        # Enough accounts that no step meets the per-account stream cap (8) of the load's own making:
        # with 3 admin accounts the third department's 18 admins, beside the second step's streams
        # still holding their slots, were refused 429.
        accounts = peak_data.credentials(app, {"doctor": 60, "scheduler": 12, "radiologist": 20, "admin": 12,
                                               "technician": 30, "display": 1})
        bench.base_config = prepared | {"accounts": accounts | {"tablet": accounts["technician"],
                                                                "wall": accounts["display"]},
                                        "tablet_modalities": peak_data.TABLET_MODALITIES,
                                        "desk_streams": settings.desk_streams}
        print(f"[peak] {most} desk staff at most over {sum(len(v) for v in accounts.values())} accounts; "
              f"stream caps as configured (8 per account, 16 per display)", file=sys.stderr)
        with app.app_context():
            from webapp.db_types import clinic_today

            bench.today = clinic_today().strftime("%Y%m%d")
        dicom_port = free_port()
        dicom = stack.enter_context(started(
            [sys.executable, "-m", "flask", "--app", "wsgi", "worklist", "serve", "--host", "127.0.0.1",
             "--port", str(dicom_port)], bench.env, dicom_port, "dicom"))
        bench.dicom_port, bench.dicom_pid = dicom_port, dicom.pid
        run_phases(bench, settings, rows, report)
        if settings.worklist > 0:
            worklist, report["worklist"] = worklist_rows(bench, settings, app)
            rows.extend(worklist)
    finished = datetime.now(UTC)
    table = "\n".join([HEADER, *(row.as_markdown() for row in rows)])
    print(table)
    for title, profile in (("the gunicorn workers at peak", report.get("profile")),
                           ("the gunicorn workers, one department", report.get("department_profile")),
                           ("the DICOM service during the C-FINDs at scale",
                            report.get("worklist", {}).get("profile"))):
        if profile and profile.get("samples"):
            print(f"\nWhere {title} spent their time (py-spy, {profile['samples']:,} samples):")
            print("  self time by package: " + ", ".join(f"{p} {v}%" for p, v in profile["self_by_package"]))
            print("  the app's functions (inclusive): " + ", ".join(f"{f} {v}%" for f, v in profile["app_inclusive"]))
    report |= {"finished": finished.isoformat(), "seconds": (finished - started_at).total_seconds(),
               "machine": {"cpus": os.cpu_count(), "load_after": os.getloadavg(), "python": platform.python_version()},
               "rows": [row.__dict__ for row in rows], "table": table}
    path = RESULTS / f"peak-{started_at:%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    (RESULTS / "peak-latest.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"\nResults: {path.relative_to(ROOT)} ({report['seconds']:.0f} s; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)", file=sys.stderr)
    return 1 if any(row.result in ("ERROR",) for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
