"""Where a page request's CPU goes: one live region fetched in-process, profiled (issue 22).

    .venv/bin/python -m bench.profile_page                        # the tablet's worklist region
    BENCH_PROFILE_PATH=/dashboard BENCH_PROFILE_TARGET=dashboard .venv/bin/python -m bench.profile_page

On the database of bench/live_render.py (``imaging_live_<BENCH_LIVE_ORDERS>``, run that first, or
set BENCH_DATABASE_URL to the full URL of a generated database), as distinct technician sessions,
through the Flask test client (the whole request: session, user, role check, queries, template,
access-log row and its commit). Prints CPU ms per request (``time.process_time``) with the render
cache off (every request renders) and on (identical screens share one render), and the top
functions of cProfile by own time and by package for each.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy.engine import make_url  # noqa: E402

from bench import peak_data  # noqa: E402
from bench.common import DEFAULT_PG_SERVER, make_app, normalise_url  # noqa: E402
from bench.run import redis_url  # noqa: E402

PACKAGES = ("sqlalchemy", "psycopg", "jinja2", "markupsafe", "werkzeug", "flask_login", "flask_wtf", "flask",
            "redis", "itsdangerous", "json", "webapp", "templates", "uuid", "socket", "ssl", "re")


def package_of(filename: str) -> str:
    if filename.startswith("<template>") or "/templates/" in filename:
        return "templates (Jinja code)"
    for name in PACKAGES:
        if f"/{name}/" in filename or filename.endswith(f"/{name}.py"):
            return name
    if filename.startswith("~") or filename.startswith("<built-in"):
        return "builtins (C)"
    return "other"


def by_package(stats: pstats.Stats) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for (filename, _line, name), (_cc, _nc, own, _cum, _callers) in stats.stats.items():
        key = package_of(filename if filename != "~" else f"<built-in {name}>")
        totals[key] += own
    whole = sum(totals.values()) or 1
    return {k: round(100 * v / whole, 1) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}


def run(app, clients, path: str, headers: dict, rounds: int, bump, profiled: bool = True
        ) -> tuple[float, pstats.Stats | None]:
    profile = cProfile.Profile(time.process_time) if profiled else None  # CPU, not wall: a shared machine
    requests = 0
    cpu = 0.0
    for _ in range(rounds):
        bump()  # a new version, as after an event: the first screen renders, the others share it
        for client in clients:
            start = time.process_time()
            if profile:
                profile.enable()
            response = client.get(path, headers=headers)
            if profile:
                profile.disable()
            cpu += time.process_time() - start
            requests += 1
            assert response.status_code == 200, response.status_code
    return cpu * 1000 / requests, pstats.Stats(profile) if profile else None


def database_url() -> str:
    """The database of bench/live_render.py, or BENCH_DATABASE_URL given whole."""
    orders = int(os.environ.get("BENCH_LIVE_ORDERS", "20000"))
    return os.environ.get("BENCH_DATABASE_URL") or make_url(normalise_url(
        os.environ.get("TEST_DATABASE_URL") or DEFAULT_PG_SERVER)).set(
        database=f"imaging_live_{orders}").render_as_string(hide_password=False)


def main() -> int:
    url = database_url()
    path = os.environ.get("BENCH_PROFILE_PATH", "/imaging/worklist")
    target = os.environ.get("BENCH_PROFILE_TARGET", "worklist")
    role = os.environ.get("BENCH_PROFILE_ROLE", "technician")
    screens = int(os.environ.get("BENCH_PROFILE_SCREENS", "12"))
    rounds = int(os.environ.get("BENCH_PROFILE_ROUNDS", "10"))
    redis = redis_url()
    channel = f"imaging-orders:profile:{os.getpid()}"
    cookies = [c["cookie"] for c in peak_data.credentials(make_app(url), {role: screens})[role]]
    headers = {"HX-Request": "true", "HX-Target": target, "X-Live-Refresh": "1"}
    print(f"{path} (HX-Target {target}) as {len(cookies)} {role} sessions, {rounds} versions; "
          f"load average {os.getloadavg()[0]:.2f}")
    for label, seconds in (("render cache off", 0), ("render cache on", 30)):
        app = make_app(url, REDIS_URL=redis, SSE_CHANNEL=channel, LIVE_RENDER_CACHE_SECONDS=seconds)
        clients = []
        for cookie in cookies:
            client = app.test_client()
            client.set_cookie("session", cookie)
            clients.append(client)

        def bump(app=app):
            from webapp.events.publishing import publish_signals

            with app.app_context():
                publish_signals([{"id": "profile", "event_id": 0}])

        run(app, clients[:2], path, headers, 2, bump)  # warm: compiled templates, statements
        plain, _ = run(app, clients, path, headers, rounds, bump, profiled=False)
        per_request, stats = run(app, clients, path, headers, rounds, bump)
        print(f"\n== {label}: {plain:.2f} ms CPU per request ({per_request:.2f} under cProfile); "
              f"load average {os.getloadavg()[0]:.2f} ==")
        print("own time by package (%):", by_package(stats))
        stats.sort_stats("tottime").print_stats(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
