"""CPU per page request for every live page a department keeps open (issue 22).

    .venv/bin/python -m bench.page_cpu                           # 100,000 orders, SQLite and PostgreSQL
    .venv/bin/python -m bench.page_cpu --backends postgresql --pages worklist --profile

Each page is requested in-process through the app (the Flask test client: the whole request,
session and user, role check, queries, template, the access-log row and its commit) as the role
that keeps it open, twice over: as the full page (a browser opening it) and as the live re-fetch
``static/live.js`` sends after an event (``HX-Request``, ``HX-Target`` = the region's id,
``X-Live-Refresh``). The shared render cache is off (``LIVE_RENDER_CACHE_SECONDS=0``): every
request renders, which is the cost being cut here. Per request: CPU (``time.process_time``, not
wall time: the machine is shared), the SQL statements executed, the answer's size. ``--profile``
adds cProfile (a CPU timer) per page: own time by package and the top functions.

Data: ``bench/generate.py`` (``--orders``, 100,000 by default), SQLite under instance/bench/ and
PostgreSQL ``imaging_pagecpu_<orders>`` on the server of BENCH_DATABASE_URL / TEST_DATABASE_URL /
127.0.0.1:5432 (or ``--sqlite-url`` / ``--pg-url``); ``--reuse`` keeps a generated one. The
table goes to stdout, the figures to bench/results/page-cpu-latest.json. ``--against DIR`` compares
with another checkout (before/after), both measured in turns (see ``compare``).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import time
import uuid
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.common import DEFAULT_PG_SERVER, RESULTS, ROOT, make_app, normalise_url, reachable  # noqa: E402
from bench.profile_page import by_package  # noqa: E402

TARGET_MS = 10.0

# (name, role, path, the live region's id). "{order}" and "{today}" are filled from the data.
PAGES = (
    ("order list", "doctor", "/imaging/orders", "order-results"),
    ("order page", "doctor", "/imaging/orders/{order}", "order-main"),
    ("worklist (tablet)", "technician", "/imaging/worklist", "worklist"),
    ("dashboard", "doctor", "/dashboard", "dashboard"),
    ("wall", "display", "/dashboard/wall", "wall"),
    ("schedule board", "scheduler", "/imaging/schedule?day={today}", "schedule-live"),
    ("to schedule", "scheduler", "/dashboard/to-schedule", "queue"),
    ("to report", "radiologist", "/dashboard/to-report", "queue"),
)
SHORT = {"order list": "orders", "order page": "order", "worklist (tablet)": "worklist", "dashboard": "dashboard",
         "wall": "wall", "schedule board": "schedule", "to schedule": "to-schedule", "to report": "to-report"}


def database_urls(args) -> dict[str, str]:
    urls = {}
    wanted = args.backends.split(",")
    if "sqlite" in wanted:
        urls["sqlite"] = args.sqlite_url or f"sqlite:///{ROOT / 'instance' / 'bench' / f'pagecpu-{args.orders}.db'}"
    if "postgresql" in wanted:
        server = normalise_url(args.pg_url or os.environ.get("BENCH_DATABASE_URL")
                               or os.environ.get("TEST_DATABASE_URL") or DEFAULT_PG_SERVER)
        if reachable(server, 5432):
            urls["postgresql"] = server if args.pg_url else make_url(server).set(
                database=f"imaging_pagecpu_{args.orders}").render_as_string(hide_password=False)
        else:
            print("PostgreSQL not reachable: SQLite only.", file=sys.stderr)
    return urls


def ensure_data(url: str, orders: int, reuse: bool) -> None:
    from bench.generate import generate
    from bench.run import existing_orders, upgrade

    if reuse and existing_orders(url) >= orders:
        upgrade(url)
        return
    if url.startswith("sqlite"):
        Path(make_url(url).database).parent.mkdir(parents=True, exist_ok=True)
    generate(url, orders=orders)


def session_cookies(app) -> dict[str, str]:
    """A signed session cookie per role, as after signing in (no sign-in, so no throttling)."""
    from webapp.auth.models import User
    from webapp.extensions import db

    now = int(time.time())
    serializer = app.session_interface.get_signing_serializer(app)
    cookies = {}
    with app.app_context():
        for role in {role for _, role, _, _ in PAGES}:
            user = db.session.scalars(select(User).where(User.role == role).order_by(User.username).limit(1)).one()
            cookies[role] = serializer.dumps({"_user_id": user.get_id(), "_fresh": True, "csrf_token": uuid.uuid4().hex,
                                              "login_at": now, "seen_at": now})
        db.session.remove()
    return cookies


def an_order(app) -> str:
    """The order page's order: the newest reported one (a full timeline and its report)."""
    from webapp.extensions import db
    from webapp.imaging.models import ImagingOrder

    with app.app_context():
        order_id = db.session.scalar(select(ImagingOrder.id).where(ImagingOrder.status == "reported")
                                     .order_by(ImagingOrder.ordered_date.desc()).limit(1))
        db.session.remove()
    return str(order_id)


class Statements:
    """Counts the SQL statements the engine executes."""

    def __init__(self, engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args) -> None:
        self.count += 1


def measure(client, path: str, headers: dict, repeat: int, statements: Statements,
            profile: cProfile.Profile | None = None) -> dict:
    for _ in range(3):  # warm: compiled templates and statements
        response = client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.status_code, response.get_data(as_text=True)[:300])
    cpu, queries = [], []
    size = 0
    for _ in range(repeat):
        before_queries = statements.count
        start = time.process_time()
        if profile:
            profile.enable()
        response = client.get(path, headers=headers)
        response.close()  # as the server does once it is sent (what runs then is the request's too)
        if profile:
            profile.disable()
        cpu.append((time.process_time() - start) * 1000)
        queries.append(statements.count - before_queries)
        size = len(response.get_data())
        assert response.status_code == 200, (path, response.status_code)
    return {"cpu_ms_p50": round(statistics.median(cpu), 2), "cpu_ms_mean": round(statistics.fmean(cpu), 2),
            "cpu_ms_min": round(min(cpu), 2), "queries": max(queries), "bytes": size}


def run_backend(backend: str, url: str, args) -> list[dict]:
    from webapp.db_types import clinic_today
    from webapp.extensions import db

    app = make_app(url, LIVE_RENDER_CACHE_SECONDS=0)
    cookies = session_cookies(app)
    with app.app_context():
        fill = {"order": an_order(app), "today": clinic_today().isoformat()}
    wanted = set(args.pages.split(",")) if args.pages else None
    rows = []
    with app.app_context():
        statements = Statements(db.engine)
    for name, role, path, target in PAGES:
        if wanted and SHORT[name] not in wanted:
            continue
        client = app.test_client()
        client.set_cookie("session", cookies[role])
        path = path.format(**fill)
        for mode, headers in (("full", {}),
                              ("live", {"HX-Request": "true", "HX-Target": target, "X-Live-Refresh": "1"})):
            profile = cProfile.Profile(time.process_time) if args.profile else None
            row = {"backend": backend, "page": name, "mode": mode, "role": role, "path": path,
                   "load_average": round(os.getloadavg()[0], 2)}
            row |= measure(client, path, headers, args.repeat, statements)
            if profile:
                measure(client, path, headers, args.repeat, statements, profile)
                stats = pstats.Stats(profile)
                row["profile_by_package"] = by_package(stats)
                print(f"\n== {backend} {name} ({mode}): {row['cpu_ms_p50']} ms CPU, {row['queries']} queries ==",
                      file=sys.stderr)
                print("own time by package (%):", row["profile_by_package"], file=sys.stderr)
                stats.stream = sys.stderr
                stats.sort_stats("tottime").print_stats(args.top)
                stats.sort_stats("cumulative").print_stats(args.top)
            rows.append(row)
            print(f"[page-cpu] {backend:10} {name:18} {mode:4} {row['cpu_ms_p50']:7.2f} ms CPU (p50), "
                  f"{row['queries']:3} queries, {row['bytes']:7,} bytes, load {row['load_average']}", file=sys.stderr)
    with app.app_context():
        db.engine.dispose()
    return rows


# ---------------------------------------------------------------------------- before / after, interleaved
#
# On a shared machine the load changes from one minute to the next, so two runs one after the
# other differ by more than most changes do. ``--against DIR`` starts this benchmark in two
# processes, this checkout and DIR (another checkout with its own database: ``--against-sqlite-url``,
# ``--against-pg-url``), and asks them for the same page in turns, a few requests at a time: both
# sides meet the same load. Each process measures itself (``--serve``: JSON lines on stdin/stdout).


def serve(args) -> int:
    """Answer ``{"backend", "page", "mode", "n"}`` lines with the CPU ms and statements of n requests."""
    from webapp.db_types import clinic_today
    from webapp.extensions import db

    clients: dict = {}
    for backend, url in database_urls(args).items():
        app = make_app(url, LIVE_RENDER_CACHE_SECONDS=0)
        cookies = session_cookies(app)
        with app.app_context():
            fill = {"order": an_order(app), "today": clinic_today().isoformat()}
            statements = Statements(db.engine)
        clients[backend] = (app, cookies, fill, statements)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        ask = json.loads(line)
        app, cookies, fill, statements = clients[ask["backend"]]
        name, role, path, target = next(p for p in PAGES if p[0] == ask["page"])
        client = app.test_client()
        client.set_cookie("session", cookies[role])
        headers = {} if ask["mode"] == "full" else {"HX-Request": "true", "HX-Target": target, "X-Live-Refresh": "1"}
        cpu, queries = [], 0
        for index in range(ask["n"] + ask.get("warm", 0)):
            before_queries = statements.count
            start = time.process_time()
            response = client.get(path.format(**fill), headers=headers)
            response.close()
            if index >= ask.get("warm", 0):
                cpu.append((time.process_time() - start) * 1000)
                queries = statements.count - before_queries
            assert response.status_code == 200, (path, response.status_code)
        print(json.dumps({"cpu": cpu, "queries": queries, "bytes": len(response.get_data())}), flush=True)
    return 0


def compare(args) -> int:
    import subprocess

    def start(directory: Path, sqlite_url, pg_url):
        command = [str(directory / ".venv" / "bin" / "python"), "-m", "bench.page_cpu", "--serve",
                   "--backends", args.backends, "--orders", str(args.orders)]
        command += ["--sqlite-url", sqlite_url] if sqlite_url else []
        command += ["--pg-url", pg_url] if pg_url else []
        process = subprocess.Popen(command, cwd=directory, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True)
        while not json.loads(process.stdout.readline()).get("ready"):
            pass
        return process

    sides = {"before": start(Path(args.against).resolve(), args.against_sqlite_url, args.against_pg_url),
             "after": start(ROOT, args.sqlite_url, args.pg_url)}

    def ask(side: str, request: dict) -> dict:
        sides[side].stdin.write(json.dumps(request) + "\n")
        sides[side].stdin.flush()
        return json.loads(sides[side].stdout.readline())

    rows, loads = [], [os.getloadavg()[0]]
    wanted = set(args.pages.split(",")) if args.pages else None
    for backend in args.backends.split(","):
        for name, role, _, _ in PAGES:
            if wanted and SHORT[name] not in wanted:
                continue
            for mode in ("full", "live"):
                got = {side: {"cpu": []} for side in sides}
                for side in sides:
                    ask(side, {"backend": backend, "page": name, "mode": mode, "n": 0, "warm": 3})
                for _ in range(max(1, args.repeat // 5)):
                    for side in sides:  # in turns, five requests at a time
                        answer = ask(side, {"backend": backend, "page": name, "mode": mode, "n": 5})
                        got[side]["cpu"] += answer["cpu"]
                        got[side] |= {"queries": answer["queries"], "bytes": answer["bytes"]}
                loads.append(os.getloadavg()[0])
                row = {"backend": backend, "page": name, "mode": mode, "role": role, "load_average": loads[-1]}
                for side, data in got.items():
                    row[side] = {"cpu_ms_p50": round(statistics.median(data["cpu"]), 2),
                                 "cpu_ms_mean": round(statistics.fmean(data["cpu"]), 2),
                                 "queries": data["queries"], "bytes": data["bytes"]}
                rows.append(row)
                print(f"[page-cpu] {backend:10} {name:18} {mode:4} before {row['before']['cpu_ms_p50']:7.2f} ms "
                      f"({row['before']['queries']} q), after {row['after']['cpu_ms_p50']:7.2f} ms "
                      f"({row['after']['queries']} q), load {loads[-1]:.2f}", file=sys.stderr)
    for process in sides.values():
        process.stdin.close()
        process.wait(timeout=60)
    lines = ["| page | backend | before: full / live re-fetch, CPU p50 | queries | after: full / live re-fetch, "
             "CPU p50 | queries | target ≤ 10 ms (after) |", "|---|---|---|---|---|---|---|"]
    by_key = {(r["backend"], r["page"], r["mode"]): r for r in rows}
    for backend in args.backends.split(","):
        for name, _, _, _ in PAGES:
            full, live = by_key.get((backend, name, "full")), by_key.get((backend, name, "live"))
            if not full:
                continue
            cells = []
            for side in ("before", "after"):
                cells.append(f"{full[side]['cpu_ms_p50']:.1f} / {live[side]['cpu_ms_p50']:.1f} ms")
                cells.append(f"{full[side]['queries']} / {live[side]['queries']}")
            worst = max(full["after"]["cpu_ms_p50"], live["after"]["cpu_ms_p50"])
            lines.append(f"| {name} | {backend} | {' | '.join(cells)} | {'pass' if worst <= TARGET_MS else 'FAIL'} |")
    print("\n".join(lines))
    print(f"\nload average (1 min) during the run: {min(loads):.2f}–{max(loads):.2f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "page-cpu-compare-latest.json").write_text(json.dumps(
        {"against": args.against, "repeat": args.repeat, "load_averages": loads, "rows": rows}, indent=1))
    return 0


def table(rows: list[dict]) -> str:
    lines = ["| page | role | backend | full page: CPU p50 (mean) | queries | live re-fetch: CPU p50 (mean) | queries "
             "| live answer | target ≤ 10 ms |",
             "|---|---|---|---|---|---|---|---|---|"]
    by_key = {(r["backend"], r["page"], r["mode"]): r for r in rows}
    for backend in dict.fromkeys(r["backend"] for r in rows):
        for name, role, _, _ in PAGES:
            full, live = by_key.get((backend, name, "full")), by_key.get((backend, name, "live"))
            if not full:
                continue
            worst = max(full["cpu_ms_p50"], live["cpu_ms_p50"])
            lines.append(f"| {name} | {role} | {backend} | {full['cpu_ms_p50']:.1f} ({full['cpu_ms_mean']:.1f}) ms "
                         f"| {full['queries']} | {live['cpu_ms_p50']:.1f} ({live['cpu_ms_mean']:.1f}) ms "
                         f"| {live['queries']} | {live['bytes'] / 1024:.0f} KB | "
                         f"{'pass' if worst <= TARGET_MS else 'FAIL'} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=int(os.environ.get("BENCH_ORDERS", "100000")))
    parser.add_argument("--backends", default=os.environ.get("BENCH_BACKENDS", "sqlite,postgresql"))
    parser.add_argument("--sqlite-url")
    parser.add_argument("--pg-url", help="the full URL of a PostgreSQL database to use (created and generated)")
    parser.add_argument("--repeat", type=int, default=30, help="requests measured per page and mode")
    parser.add_argument("--reuse", action="store_true", default=os.environ.get("BENCH_REUSE") == "1")
    parser.add_argument("--pages", help=f"only these (comma-separated): {', '.join(SHORT.values())}")
    parser.add_argument("--profile", action="store_true", help="cProfile each page and mode (stderr)")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--against", help="another checkout: before/after, interleaved (its data must exist)")
    parser.add_argument("--against-sqlite-url")
    parser.add_argument("--against-pg-url")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args)
    if args.against:
        return compare(args)
    from bench.common import ensure_postgres_database, is_postgres

    rows = []
    loads = [os.getloadavg()]
    for backend, url in database_urls(args).items():
        if is_postgres(url) and not args.reuse:
            ensure_postgres_database(url, fresh=True)
        ensure_data(url, args.orders, args.reuse)
        rows += run_backend(backend, url, args)
        loads.append(os.getloadavg())
    loads.append(os.getloadavg())
    print(table(rows))
    print(f"\nload average (1 min) during the run: {min(x[0] for x in loads):.2f}–{max(x[0] for x in loads):.2f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "page-cpu-latest.json").write_text(json.dumps(
        {"orders": args.orders, "repeat": args.repeat, "load_averages": loads, "rows": rows}, indent=1))
    return 0 if all(r["cpu_ms_p50"] <= TARGET_MS for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
