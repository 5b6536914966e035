"""The benchmark scenarios. Each returns rows of the results table (see bench.run.Row)."""

from __future__ import annotations

import http.client
import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import event, func, select

from bench.common import (
    BENCH_PASSWORD,
    RESULTS,
    ROOT,
    interleaved,
    is_postgres,
    libpq_url,
    sqlite_path,
    summarise,
)

LIST_LIMIT = 50
ORDERS_API = "/api/v1/imaging/orders"
ORDERS_PAGE = "/imaging/orders"


@dataclass
class Row:
    scenario: str
    backend: str
    measured: str
    baseline: str
    ratio: float | None
    target: str
    result: str  # pass, FAIL, pending, info
    data: dict = field(default_factory=dict)

    def as_markdown(self) -> str:
        ratio = "" if self.ratio is None else f"{self.ratio:.2f}×"
        return (f"| {self.scenario} | {self.backend} | {self.measured} | {self.baseline} | {ratio} "
                f"| {self.target} | {self.result} |")


def verdict(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def ms(stats: dict) -> str:
    return f"p50 {stats['p50']:.2f} / p95 {stats['p95']:.2f} ms"


def has_route(app, rule: str) -> bool:
    return any(r.rule == rule for r in app.url_map.iter_rules())


# ---------------------------------------------------------------------------- raw driver replay


@contextmanager
def captured_sql(engine):
    """Record the (SQL, parameters) pairs the app sends to the driver."""
    statements: list[tuple[str, object]] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        if statement.strip().split(" ")[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", listener)


class RawDriver:
    """The same SQL run with the database driver alone (psycopg 3 or sqlite3)."""

    def __init__(self, url: str) -> None:
        self.postgres = is_postgres(url)
        if self.postgres:
            import psycopg

            self.conn = psycopg.connect(libpq_url(url), autocommit=True)
        else:
            self.conn = sqlite3.connect(sqlite_path(url), isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")

    def run(self, statements: list[tuple[str, object]]) -> None:
        for statement, parameters in statements:
            if self.postgres:
                # Prepared like SQLAlchemy's psycopg dialect leaves them (server-side after 5 runs).
                self.conn.execute(statement, parameters).fetchall()
            else:
                self.conn.execute(statement, parameters).fetchall()

    def close(self) -> None:
        self.conn.close()


# ---------------------------------------------------------------------------- scenario 1: order list


def list_filter_args(app) -> dict[str, str]:
    from webapp.db_types import clinic_today

    with app.app_context():
        today = clinic_today()
    return {"status": "reported", "modality": "CT", "date_from": (today - timedelta(days=365)).isoformat(),
            "date_to": today.isoformat()}


def deep_cursor(app, args: dict[str, str]) -> tuple[str, int, int]:
    """A cursor 90% of the way into the filtered list, the list's size and the cursor's position."""
    from webapp.extensions import db
    from webapp.imaging.models import ImagingOrder
    from webapp.imaging.order_list import OrderFilter, _filtered
    from webapp.paging import encode_cursor

    with app.app_context():
        filters = OrderFilter.from_args(args)
        total = db.session.scalar(_filtered(select(func.count(ImagingOrder.id)), filters))
        position = max(0, int(total * 0.9) - 1)
        row = db.session.execute(
            _filtered(select(ImagingOrder), filters)
            .order_by(ImagingOrder.ordered_date.desc(), ImagingOrder.id.desc()).offset(position).limit(1)
        ).unique().scalar_one()
        cursor = encode_cursor(row.ordered_date, row.id)
        db.session.remove()
    return cursor, total, position


def login_session(client, app, username: str) -> None:
    from webapp.auth.models import User
    from webapp.extensions import db

    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        key = user.get_id()
        db.session.remove()
    with client.session_transaction() as session:
        session["_user_id"] = key
        session["_fresh"] = True


def api_token(client, username: str) -> str:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": BENCH_PASSWORD})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_json()["access_token"]


def scenario_list(app, url: str, backend: str, repeat: int) -> list[Row]:
    from webapp.extensions import db
    from webapp.imaging.queries import OrderFilter, list_orders

    args = list_filter_args(app)
    cursor, total, position = deep_cursor(app, args)
    filters = OrderFilter.from_args(args)
    info = {"filter": args, "matching": total, "deep_position": position}

    # The SQL the service layer sends, for the raw-driver baseline.
    sql = {}
    with app.app_context():
        for name, page_cursor in (("first", None), ("deep", cursor)):
            with captured_sql(db.engine) as statements:
                rows, _ = list_orders(filters, limit=LIST_LIMIT, cursor=page_cursor)
            assert len(rows) == LIST_LIMIT, f"{name} page has {len(rows)} rows"
            sql[name] = statements[-1:]
            db.session.remove()
    raw = RawDriver(url)

    def service(page_cursor):
        def call():
            with app.app_context():
                list_orders(filters, limit=LIST_LIMIT, cursor=page_cursor)
                db.session.remove()
        return call

    fns = {
        "raw_first": lambda: raw.run(sql["first"]),
        "raw_deep": lambda: raw.run(sql["deep"]),
        "service_first": service(None),
        "service_deep": service(cursor),
    }
    api = has_route(app, ORDERS_API)
    page = has_route(app, ORDERS_PAGE)
    if api:
        api_client = app.test_client()
        headers = {"Authorization": f"Bearer {api_token(api_client, 'doctor-001')}"}
        query = args | {"limit": str(LIST_LIMIT)}

        def api_get(extra, rows=LIST_LIMIT):
            def call():
                response = api_client.get(ORDERS_API, query_string=query | extra, headers=headers)
                assert response.status_code == 200, response.status_code
                assert len(response.get_json()["items"]) == rows
            return call

        fns["api_first"] = api_get({})
        fns["api_deep"] = api_get({"cursor": cursor})
    page_size = LIST_LIMIT
    if page:
        try:
            from webapp.imaging.views.orders import PAGE_SIZE as page_size
        except ImportError:
            pass
        page_client = app.test_client()
        login_session(page_client, app, "doctor-001")

        def page_get(extra):
            def call():
                response = page_client.get(ORDERS_PAGE, query_string=args | extra,
                                           headers={"HX-Request": "true", "HX-Target": "results"})
                assert response.status_code == 200, response.status_code
                assert b"<html" not in response.data[:2000].lower(), "not a fragment"
            return call

        fns["html_first"] = page_get({})
        fns["html_deep"] = page_get({"cursor": cursor})
        if api and page_size != LIST_LIMIT:  # compare like with like: JSON of the page's size
            fns["api_page_first"] = api_get({"limit": str(page_size)}, rows=page_size)
            fns["api_page_deep"] = api_get({"limit": str(page_size), "cursor": cursor}, rows=page_size)
    info["html_page_size"] = page_size
    samples = interleaved(fns, repeat)
    raw.close()
    stats = {name: summarise(values) for name, values in samples.items()}
    info["stats"] = stats

    rows = []
    for page_name in ("first", "deep"):
        measured_key = f"api_{page_name}" if api else f"service_{page_name}"
        label = "API JSON" if api else "service list_orders (API not landed)"
        m, b = stats[measured_key], stats[f"raw_{page_name}"]
        rows.append(Row(
            f"1. order list, {page_name} page, 50 rows ({label})", backend, ms(m), f"raw SQL {ms(b)}",
            m["p50"] / b["p50"], "p95 ≤ 25 ms (1M, PG)", verdict(m["p95"] <= 25), info,
        ))
    key = "api" if api else "service"
    first, deep = stats[f"{key}_first"], stats[f"{key}_deep"]
    rows.append(Row(
        f"1. order list, deep page ({position:,} of {total:,}) vs first", backend, f"deep {ms(deep)}",
        f"first page {ms(first)}", deep["p50"] / first["p50"], "≤ 2×",
        verdict(deep["p50"] <= 2 * first["p50"]),
    ))
    if api and page:
        json_key = "api_page" if "api_page_first" in stats else "api"
        jf, jd = stats[f"{json_key}_first"], stats[f"{json_key}_deep"]
        worst = max(stats["html_first"]["p50"] / jf["p50"], stats["html_deep"]["p50"] / jd["p50"])
        rows.append(Row(
            f"1. order list, HTML fragment (HX-Request) vs JSON, {page_size} rows each", backend,
            f"first {ms(stats['html_first'])}; deep {ms(stats['html_deep'])}",
            f"JSON first {ms(jf)}; deep {ms(jd)}",
            worst, "≤ 1.5× (worse of first/deep)", verdict(worst <= 1.5),
        ))
    else:
        rows.append(Row("1. order list, HTML fragment vs JSON", backend, "", "", None, "≤ 1.5×",
                        "pending (API/pages not on main yet)"))
    return rows


# ---------------------------------------------------------------------------- scenario 2: dashboard


def scenario_dashboard(app, url: str, backend: str, repeat: int) -> list[Row]:
    from webapp.extensions import db
    from webapp.imaging.boards import dashboard_counts

    with app.app_context():
        with captured_sql(db.engine) as statements:
            counts = dashboard_counts()
        db.session.remove()
    raw = RawDriver(url)

    def service():
        with app.app_context():
            dashboard_counts()
            db.session.remove()

    samples = interleaved({"service": service, "raw": lambda: raw.run(statements)}, repeat)
    raw.close()
    m, b = summarise(samples["service"]), summarise(samples["raw"])
    return [Row(
        f"2. dashboard counts ({len(statements)} queries, {counts.total:,} orders, {counts.today_total:,} today)",
        backend, ms(m),
        f"raw SQL {ms(b)}", m["p50"] / b["p50"], "p95 ≤ 10 ms (1M, PG)", verdict(m["p95"] <= 10),
        {"service": m, "raw": b, "queries": [s for s, _ in statements]},
    )]


# ---------------------------------------------------------------------------- scenario 3a: audit event cost


def _visits_sample(app, count: int = 500) -> list[tuple[str, str]]:
    from webapp.extensions import db
    from webapp.visits.models import Visit

    with app.app_context():
        pairs = [(str(v.patient_id), str(v.id)) for v in db.session.scalars(select(Visit).limit(count))]
        db.session.remove()
    return pairs


ORDER_BODY = {"modality": "XRAY", "body_part": "CHEST", "procedure_code": "71046",
              "clinical_indication": "Benchmark: suspected pneumonia", "priority": "routine"}


def scenario_event_cost(app, backend: str, rounds: int, batch: int = 20) -> list[Row]:
    """Service-level create_order + commit, with and without the event row (alternating batches)."""
    from webapp.auth.models import User
    from webapp.extensions import db, writing
    from webapp.imaging import services

    visits = _visits_sample(app)
    real_record_event = services.record_event
    samples: dict[str, list[float]] = {"with_event": [], "without_event": []}
    rng = random.Random(7)
    with app.app_context():
        doctor_id = db.session.scalar(select(User.id).where(User.username == "doctor-001"))
        db.session.remove()

    def create_one():
        patient_id, visit_id = rng.choice(visits)
        with app.app_context(), writing():
            doctor = db.session.get(User, doctor_id)
            services.create_order(doctor, patient_id=patient_id, visit_id=visit_id, **ORDER_BODY)
            # The audit row only: publishing the live event is scenario 5's business.
            db.session.info.pop(services.PENDING_EVENTS_KEY, None)
            db.session.commit()
            db.session.remove()

    no_event = lambda *args, **kwargs: None  # noqa: E731
    try:
        for _ in range(3):
            create_one()
        # Alternate one with, one without, so machine noise hits both alike.
        for _ in range(rounds * batch):
            for name in ("with_event", "without_event"):
                services.record_event = real_record_event if name == "with_event" else no_event
                start = time.perf_counter()
                create_one()
                samples[name].append(time.perf_counter() - start)
    finally:
        services.record_event = real_record_event
    m, b = summarise(samples["with_event"]), summarise(samples["without_event"])
    ratio = m["p50"] / b["p50"]
    return [Row(
        "3. audit event cost: service create_order + commit, with vs without the event row", backend,
        ms(m), f"without event {ms(b)}", ratio, "≤ 1.3× (p50)", verdict(ratio <= 1.3), {"with": m, "without": b},
    )]


# ---------------------------------------------------------------------------- a gunicorn server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn_server(url: str, log_name: str, extra_env: dict[str, str] | None = None):
    """The app under gunicorn with gunicorn.conf.py (gevent workers), on a free port."""
    port = free_port()
    RESULTS.mkdir(parents=True, exist_ok=True)
    log = open(RESULTS / f"{log_name}.log", "w")
    environment = os.environ | {"DATABASE_URL": url, "HOST": "127.0.0.1", "PORT": str(port)} | (extra_env or {})
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "--config", "gunicorn.conf.py", "--access-logfile",
         "/dev/null", "bench.server:app"],
        cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {log.name}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/bench/hello")
                if conn.getresponse().status == 200:
                    conn.close()
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer; see {log.name}")
            time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


class Client:
    """One keep-alive HTTP connection."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def request(self, method: str, path: str, body=None, headers=None) -> tuple[int, bytes]:
        data = json.dumps(body).encode() if body is not None else None
        all_headers = self.headers | ({"Content-Type": "application/json"} if data else {}) | (headers or {})
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=data, headers=all_headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def server_token(port: int, username: str = "doctor-001") -> str:
    status, body = Client(port).request("POST", "/api/v1/auth/token",
                                        {"username": username, "password": BENCH_PASSWORD})
    assert status == 200, body[:300]
    return json.loads(body)["access_token"]


# ---------------------------------------------------------------------------- scenario 3: creates over HTTP


def _raw_create_sql(postgres: bool) -> tuple[str, str, str]:
    mark = "%s" if postgres else "?"
    counter = (f"INSERT INTO order_counters (year, last_value) VALUES ({mark}, 1) ON CONFLICT (year) "
               "DO UPDATE SET last_value = order_counters.last_value + 1 RETURNING last_value")
    order_columns = ("id, accession_number, order_number, patient_id, visit_id, ordered_by, modality, body_part, "
                     "procedure_code, procedure_name, clinical_indication, status, priority, ordered_date, "
                     "study_instance_uid, created_at, updated_at, version")
    order = f"INSERT INTO imaging_orders ({order_columns}) VALUES ({', '.join([mark] * 18)})"
    # The floor writes the event row without the audit chain (no lock, no head read, no hash):
    # placeholder hashes; a bench database is not verified.
    event_sql = (f"INSERT INTO order_events (order_id, event_type, from_status, to_status, order_version, actor_id, "
                 f"actor_label, actor_role, created_at, changes, note, prev_hash, row_hash) "
                 f"VALUES ({', '.join([mark] * 11)}, '{'0' * 64}', '{'0' * 64}')")
    return counter, order, event_sql


def raw_creates(url: str, visits, doctor_id: uuid.UUID, clients: int, seconds: float) -> dict:
    """The floor: the same three statements per order with the driver alone, 8 threads."""
    postgres = is_postgres(url)
    counter_sql, order_sql, event_sql = _raw_create_sql(postgres)
    errors: list[str] = []
    done, lock = [0], threading.Lock()
    deadline = time.perf_counter() + seconds

    def fmt_id(value):
        return value if postgres else value.hex

    def fmt_dt(value):
        return value if postgres else value.replace(tzinfo=None).isoformat(" ", "microseconds")

    def worker(seed: int):
        rng = random.Random(seed)
        if postgres:
            import psycopg

            conn = psycopg.connect(libpq_url(url))
        else:
            conn = sqlite3.connect(sqlite_path(url), isolation_level=None, timeout=60)
        try:
            while time.perf_counter() < deadline:
                patient_id, visit_id = rng.choice(visits)
                now = datetime.now(UTC)
                if not postgres:
                    conn.execute("BEGIN IMMEDIATE")
                value = conn.execute(counter_sql, (now.year,)).fetchone()[0]
                order_id = uuid.uuid4()
                number = f"{now.year:04d}-{value:05d}"
                conn.execute(order_sql, (
                    fmt_id(order_id), f"ACC-{number}", f"ORD-{number}", fmt_id(uuid.UUID(patient_id)),
                    fmt_id(uuid.UUID(visit_id)), fmt_id(doctor_id), "XRAY", "CHEST", "71046",
                    "X-Ray Chest, 2 views", ORDER_BODY["clinical_indication"], "ordered", "routine", fmt_dt(now),
                    f"2.25.{uuid.uuid4().int}", fmt_dt(now), fmt_dt(now), 1,
                ))
                conn.execute(event_sql, (
                    fmt_id(order_id), "created", None, "ordered", 1, fmt_id(doctor_id), "Bench doctor", "doctor",
                    fmt_dt(now), json.dumps({"modality": "XRAY"}), None,
                ))
                conn.commit() if postgres else conn.execute("COMMIT")
                with lock:
                    done[0] += 1
        except Exception as exc:  # noqa: BLE001  (reported in the table)
            errors.append(repr(exc))
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    return {"per_second": done[0] / elapsed, "orders": done[0], "errors": errors, "seconds": elapsed}


def check_numbers(app) -> dict:
    """No duplicate numbers, and every year's numbers run 1..counter without a gap."""
    from webapp.extensions import db
    from webapp.imaging.models import ImagingOrder, OrderCounter

    with app.app_context():
        duplicates = db.session.execute(
            select(ImagingOrder.accession_number).group_by(ImagingOrder.accession_number).having(func.count() > 1)
        ).all()
        gaps = {}
        for year, last in db.session.execute(select(OrderCounter.year, OrderCounter.last_value)):
            count = db.session.scalar(select(func.count()).where(ImagingOrder.accession_number.like(f"ACC-{year}-%")))
            if count != last:
                gaps[year] = {"orders": count, "counter": last}
        db.session.remove()
    return {"duplicates": len(duplicates), "counter_mismatch": gaps}


def scenario_http(app, url: str, backend: str, *, clients: int, seconds: float, get_repeat: int,
                  redis_url: str | None) -> list[Row]:
    from webapp.auth.models import User
    from webapp.extensions import db
    from webapp.imaging.models import ImagingOrder

    rows: list[Row] = []
    if not has_route(app, ORDERS_API):
        for title, target in (("3. create orders over HTTP, 8 clients", "≥ 300/s PG, ≥ 100/s SQLite"),
                              ("4. GET one order vs hello JSON", "≤ 2×")):
            rows.append(Row(title, backend, "", "", None, target, "pending (API not on main yet)"))
        return rows
    visits = _visits_sample(app)
    with app.app_context():
        doctor_id = db.session.scalar(select(User.id).where(User.username == "doctor-001"))
        order_ids = [str(i) for i in db.session.scalars(select(ImagingOrder.id).limit(2000))]
        db.session.remove()
    extra_env = {"REDIS_URL": redis_url} if redis_url else {}
    with gunicorn_server(url, f"gunicorn-{backend}", extra_env) as port:
        # ---- 3: creates, 8 concurrent clients
        tokens = server_token(port)
        results = {"statuses": {}, "numbers": [], "latencies": []}
        lock = threading.Lock()

        deadline = time.perf_counter() + seconds

        def worker(seed: int):
            rng = random.Random(seed)
            client = Client(port, tokens)
            while time.perf_counter() < deadline:
                patient_id, visit_id = rng.choice(visits)
                start = time.perf_counter()
                try:
                    status, body = client.request("POST", ORDERS_API, ORDER_BODY | {"patient_id": patient_id,
                                                                                     "visit_id": visit_id})
                except (OSError, http.client.HTTPException) as exc:  # a timeout is an error, not a crash
                    status, body = type(exc).__name__, b""
                elapsed = time.perf_counter() - start
                with lock:
                    results["statuses"][status] = results["statuses"].get(status, 0) + 1
                    results["latencies"].append(elapsed)
                    if status == 201:
                        results["numbers"].append(json.loads(body)["accession_number"])

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
        total = sum(results["statuses"].values())
        rate = total / elapsed
        errors = total - results["statuses"].get(201, 0)
        duplicates = len(results["numbers"]) - len(set(results["numbers"]))
        raw = raw_creates(url, visits, doctor_id, clients, max(5.0, seconds / 2))
        numbers = check_numbers(app)
        # The rate target (300/s PG, 100/s SQLite) is retired in favour of the department-at-peak
        # figures: the rate is information; errors and duplicate numbers still fail the row.
        target = 300 if backend == "postgresql" else 100
        ok = errors == 0 and duplicates == 0 and not numbers["duplicates"] \
            and not numbers["counter_mismatch"] and not raw["errors"]
        rows.append(Row(
            f"3. create orders over HTTP (gunicorn.conf.py), {clients} clients, {seconds:.0f} s", backend,
            f"{rate:.0f}/s, {errors} errors, {duplicates} duplicate numbers, "
            f"p95 {summarise(results['latencies'])['p95']:.1f} ms",
            f"raw driver {raw['per_second']:.0f}/s ({len(raw['errors'])} errors)",
            raw["per_second"] / rate, f"no errors, no duplicates (retired: ≥ {target}/s)",
            "info" if ok else "FAIL",
            {"statuses": results["statuses"], "rate": rate, "raw": raw, "numbers": numbers},
        ))

        # ---- 4: GET one order beside hello JSON, one keep-alive client, interleaved
        client = Client(port, tokens)
        rng = random.Random(4)

        def get_order():
            status, _ = client.request("GET", f"{ORDERS_API}/{rng.choice(order_ids)}")
            assert status == 200, status

        def hello():
            status, _ = client.request("GET", "/bench/hello")
            assert status == 200, status

        samples = interleaved({"order": get_order, "hello": hello}, get_repeat, warmup=20)
        m, b = summarise(samples["order"]), summarise(samples["hello"])
        rows.append(Row(
            "4. GET one order vs hello JSON (same gunicorn)", backend, ms(m), f"hello {ms(b)}",
            m["p50"] / b["p50"], "retired: ≤ 2× (p50)", "info", {"order": m, "hello": b},
        ))
    timeouts = (RESULTS / f"gunicorn-{backend}.log").read_text().count("WORKER TIMEOUT")
    if timeouts:  # a hung worker is an error even when the clients' retries hid it
        rows[0].measured += f", {timeouts} gunicorn worker timeouts"
        rows[0].result = "FAIL"
    return rows


# ---------------------------------------------------------------------------- scenario 5: live events


def scenario_live_events(redis_url: str | None, quick: bool) -> list[Row]:
    script = ROOT / "bench" / "live_events.py"
    if not script.exists():
        return [Row("5. live events: publish-to-receive p95 at 10 and 300 clients", "redis", "", "", None,
                    "vs raw Redis pub/sub", "pending (bench/live_events.py not on main yet)")]
    import importlib

    module = importlib.import_module("bench.live_events")
    produced = module.run(redis_url=redis_url, quick=quick)
    rows = []
    for item in produced:
        if isinstance(item, Row):
            rows.append(item)
        else:
            rows.append(Row(**{k: item.get(k) for k in ("scenario", "backend", "measured", "baseline", "ratio",
                                                        "target", "result")}, data=item.get("data", {})))
    return rows
