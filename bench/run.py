"""Run the benchmark suite: generate data, run every scenario, print one Markdown table.

    .venv/bin/python -m bench.run                      # what `make bench` runs (100,000 orders)
    .venv/bin/python -m bench.run --orders 1000000 --backends postgresql

Backends: SQLite always (a file under instance/bench/); PostgreSQL when the server of
BENCH_DATABASE_URL, else TEST_DATABASE_URL, else postgres@127.0.0.1:5432 answers (a database
``imaging_bench_<orders>`` is created there). Redis for the live-events scenario: BENCH_REDIS_URL,
else TEST_REDIS_URL, else REDIS_URL, else redis://127.0.0.1:6379/0 when it answers.
The table goes to stdout and, with every raw figure, to bench/results/<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy.engine import make_url  # noqa: E402

from bench import fhir, scenarios  # noqa: E402
from bench.common import (  # noqa: E402
    DEFAULT_PG_SERVER,
    RESULTS,
    ROOT,
    make_app,
    normalise_url,
    reachable,
)
from bench.generate import generate  # noqa: E402

HEADER = ("| scenario | backend | measured | raw baseline (same run) | ratio | target | result |\n"
          "|---|---|---|---|---|---|---|")


def backend_urls(orders: int, wanted: list[str]) -> dict[str, str]:
    urls = {}
    if "sqlite" in wanted:
        urls["sqlite"] = f"sqlite:///{ROOT / 'instance' / 'bench' / f'bench-{orders}.db'}"
    if "postgresql" in wanted:
        server = normalise_url(os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
                               or DEFAULT_PG_SERVER)
        if reachable(server, 5432):
            urls["postgresql"] = make_url(server).set(database=f"imaging_bench_{orders}").render_as_string(
                hide_password=False)
        else:
            print(f"PostgreSQL at {make_url(server).host} not reachable: SQLite only.", file=sys.stderr)
    return urls


def redis_url() -> str | None:
    for name in ("BENCH_REDIS_URL", "TEST_REDIS_URL", "REDIS_URL"):
        if os.environ.get(name):
            return os.environ[name] if reachable(os.environ[name], 6379) else None
    default = "redis://127.0.0.1:6379/0"
    return default if reachable(default, 6379) else None


def existing_orders(url: str) -> int:
    """How many orders the benchmark database holds already (0 when it is missing)."""
    from webapp.extensions import db
    from webapp.imaging.models import ImagingOrder

    try:
        app = make_app(url)
        with app.app_context():
            count = db.session.scalar(db.select(db.func.count()).select_from(ImagingOrder))
            db.engine.dispose()
            return count or 0
    except Exception:  # noqa: BLE001  (no database yet)
        return 0


def run_backend(app, url: str, backend: str, redis: str | None, *, repeat: int, quick: bool,
                only: set[str]) -> list[scenarios.Row]:
    steps = [
        ("1", lambda: scenarios.scenario_list(app, url, backend, repeat)),
        ("2", lambda: scenarios.scenario_dashboard(app, url, backend, repeat)),
        ("3", lambda: scenarios.scenario_event_cost(app, backend, rounds=3 if quick else 10)),
        ("3", lambda: scenarios.scenario_http(
            app, url, backend, clients=8, seconds=5 if quick else 20,
            get_repeat=50 if quick else 300, redis_url=redis)),
        ("fhir", lambda: fhir.scenario_fhir(app, backend, repeat)),
    ]
    rows: list[scenarios.Row] = []
    for number, step in steps:
        if only and number not in only and not (number == "3" and "4" in only):
            continue
        t0 = time.perf_counter()
        try:
            produced = step()
        except Exception as exc:  # noqa: BLE001  (a broken scenario is a row, not a crash)
            produced = [scenarios.Row(f"{number}. (error)", backend, repr(exc)[:200], "", None, "", "ERROR")]
        rows.extend(produced)
        print(f"[{backend}] scenario {number}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return rows


def upgrade(url: str) -> None:
    import flask_migrate

    from webapp.extensions import db

    app = make_app(url)
    with app.app_context():
        flask_migrate.upgrade()
        db.engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=int(os.environ.get("BENCH_ORDERS", 100_000)))
    parser.add_argument("--backends", default=os.environ.get("BENCH_BACKENDS", "sqlite,postgresql"))
    parser.add_argument("--reuse", action="store_true", default=os.environ.get("BENCH_REUSE") == "1",
                        help="keep a benchmark database that already holds at least --orders orders")
    parser.add_argument("--repeat", type=int, default=int(os.environ.get("BENCH_REPEAT", 100)),
                        help="samples per timed query (default 100)")
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    parser.add_argument("--only", default="", help="comma-separated scenario numbers to run (default all)")
    args = parser.parse_args(argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    repeat = 20 if args.quick else args.repeat
    started = datetime.now(UTC)
    urls = backend_urls(args.orders, [b.strip() for b in args.backends.split(",")])
    redis = redis_url()
    rows: list[scenarios.Row] = []
    generated = {}
    for backend, url in urls.items():
        have = existing_orders(url) if args.reuse else 0
        if have >= args.orders:
            print(f"[{backend}] reusing {have:,} orders (migrating it to the newest schema)", file=sys.stderr)
            upgrade(url)
        else:
            print(f"[{backend}] generating {args.orders:,} orders", file=sys.stderr)
            summary = generate(url, orders=args.orders)
            generated[backend] = summary.__dict__ | {"counters": {str(k): v for k, v in summary.counters.items()}}
            print(f"[{backend}] generated in {summary.seconds:.0f} s", file=sys.stderr)
        app = make_app(url, REDIS_URL=redis)
        rows.extend(run_backend(app, url, backend, redis, repeat=repeat, quick=args.quick, only=only))
    if not only or "5" in only:
        try:
            rows.extend(scenarios.scenario_live_events(redis, args.quick))
        except Exception as exc:  # noqa: BLE001
            rows.append(scenarios.Row("5. live events (error)", "redis", repr(exc)[:200], "", None, "", "ERROR"))

    finished = datetime.now(UTC)
    table = "\n".join([HEADER, *(row.as_markdown() for row in rows)])
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {
        "started": started.isoformat(), "finished": finished.isoformat(), "orders": args.orders,
        "repeat": repeat, "backends": {b: make_url(u).render_as_string(hide_password=True) for b, u in urls.items()},
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "generated": generated, "rows": [row.__dict__ for row in rows], "table": table,
    }
    path = RESULTS / f"bench-{started:%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"\nResults: {path.relative_to(ROOT)} ({(finished - started).total_seconds():.0f} s; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)", file=sys.stderr)
    return 1 if any(row.result == "ERROR" for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
