"""Data for the department-at-peak benchmark: the database, stations, accounts' credentials,
a day's worklist booked in bulk, and the time of every event.

The database is ``imaging_peak_<orders>`` on the benchmark's PostgreSQL server, written by the
benchmark generator (``bench/generate.py``); ``BENCH_REUSE=1`` keeps one that is there already.
"""

from __future__ import annotations

import random
import sys
import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bench.common import libpq_url, make_app
from bench.generate import COLUMNS, Formats, Generator, Person, generate

# Scanners (AE title, modality): they run CT and MRI, the tablets the rest.
SCANNERS = [(f"CT{i}", "CT") for i in range(1, 6)] + [(f"MR{i}", "MRI") for i in range(1, 6)]
TABLET_MODALITIES = ["XRAY", "XRAY", "XRAY", "US", "US", "MG", "FL"]
DESK_MIX = (("doctor", 0.5), ("scheduler", 0.2), ("radiologist", 0.2), ("admin", 0.1))


def desk_counts(desk: int) -> dict[str, int]:
    """How many of each desk role among ``desk`` users (the rest go to doctors)."""
    counts = {role: int(desk * share) for role, share in DESK_MIX}
    counts["doctor"] += desk - sum(counts.values())
    return counts


def ensure_database(url: str, orders: int, reuse: bool) -> dict:
    from bench.run import existing_orders, upgrade

    have = existing_orders(url) if reuse else 0
    if have >= orders:
        print(f"[peak] reusing {have:,} orders (migrating to the newest schema)", file=sys.stderr)
        upgrade(url)
        return {"reused": have}
    print(f"[peak] generating {orders:,} orders", file=sys.stderr)
    summary = generate(url, orders=orders)
    return {"generated": summary.orders, "events": summary.events, "seconds": summary.seconds}


def prepare(app) -> dict:
    """Stations for the scanners, and what the load needs to know of the data."""
    from webapp.dicom.stations import add_station
    from webapp.extensions import db, writing
    from webapp.imaging.models import Procedure, Station
    from webapp.visits.models import Visit

    with app.app_context():
        with writing():
            have = set(db.session.scalars(select(Station.ae_title)))
            for ae, modality in SCANNERS:
                if ae not in have:
                    add_station(ae, modality, f"Room {ae}")
            db.session.commit()
        visits = [(str(p), str(v)) for v, p in db.session.execute(
            select(Visit.id, Visit.patient_id).order_by(Visit.visit_date.desc()).limit(3000))]
        bodies = [{"modality": m, "body_part": b, "procedure_code": c, "priority": "routine",
                   "clinical_indication": "Peak benchmark: clinical question."}
                  for c, m, b in db.session.execute(
                      select(Procedure.code, Procedure.modality, Procedure.body_part)
                      # Procedures that need a radiologist's protocol before the scan are left out:
                      # the load has no protocoling step (it would race the schedulers' If-Match),
                      # and the scanners' MPPS N-CREATE on such an order is refused (0110, "Not
                      # protocoled"), as it should be, which the run then counted as errors.
                      .where(Procedure.is_active.is_(True), Procedure.requires_laterality.is_(False),
                             Procedure.protocol_required.is_(False))
                      .order_by(Procedure.code))]
        db.session.remove()
    return {"visits": visits, "patients": sorted({p for p, _ in visits})[:500], "order_bodies": bodies}


def credentials(app, roles: dict[str, int]) -> dict[str, list[dict]]:
    """Bearer tokens and signed session cookies for up to ``roles[role]`` accounts of each role,
    minted with the servers' SECRET_KEY (so no sign-in, and no sign-in throttling, in the load).
    The session carries a CSRF secret, as one from the sign-in page would after its first form."""
    from webapp.api.security import issue_token
    from webapp.auth.models import User
    from webapp.extensions import db

    out: dict[str, list[dict]] = {}
    with app.app_context():
        serializer = app.session_interface.get_signing_serializer(app)
        for role, wanted in roles.items():
            users = db.session.scalars(select(User).where(User.role == role).order_by(User.username).limit(wanted))
            out[role] = [{"username": u.username, "token": issue_token(u),
                          "cookie": serializer.dumps({"_user_id": u.get_id(), "_fresh": True,
                                                      "csrf_token": uuid.uuid4().hex})} for u in users]
        db.session.remove()
    return out


def event_times(url: str, since_id: int = 0) -> dict[int, float]:
    """Event id → the event row's time (Unix seconds) for every event after ``since_id``."""
    import psycopg

    with psycopg.connect(libpq_url(url)) as conn:
        rows = conn.execute("SELECT id, created_at FROM order_events WHERE id > %s", (since_id,)).fetchall()
    return {eid: at.replace(tzinfo=at.tzinfo or UTC).timestamp() for eid, at in rows}


def last_event_id(url: str) -> int:
    import psycopg

    with psycopg.connect(libpq_url(url)) as conn:
        return conn.execute("SELECT coalesce(max(id), 0) FROM order_events").fetchone()[0]


# ---------------------------------------------------------------------------- a day's worklist in bulk


def book_worklist(url: str, modality: str, count: int, seed: int = 18) -> dict:
    """``count`` orders of ``modality`` scheduled for today (07:00-19:00, clinic time), each with
    its visit and events, written as the generator writes them (same rows, the audit chain
    continued from its head, numbers continued from the year's counter). The count triggers stay
    on, so ``order_status_counts`` stays exact. Nothing else may write meanwhile."""
    import psycopg

    from webapp.auth.models import User
    from webapp.extensions import db
    from webapp.imaging.models import BodyPart, Procedure

    app = make_app(url)
    with app.app_context():
        zone = ZoneInfo(app.config["APP_TIMEZONE"])
        procedures = [(p.code, p.name, p.modality, p.body_part, p.requires_laterality)
                      for p in db.session.scalars(select(Procedure).where(Procedure.is_active))]
        body_parts = {b.code: b.is_paired for b in db.session.scalars(select(BodyPart))}
        people: dict[str, list[Person]] = {}
        for u in db.session.scalars(select(User)):
            people.setdefault(u.role, []).append(Person(u.id, u.username, u.full_name or u.username, u.role))
        db.session.remove()
        db.engine.dispose()
    now = datetime.now(UTC)
    gen = Generator(orders=count, years=1, seed=seed, now=now, zone=zone, sqlite=False, procedures=procedures,
                    body_parts=body_parts, progress=False)
    rng, f = random.Random(seed), Formats(False)
    with psycopg.connect(libpq_url(url)) as conn:
        head = conn.execute("SELECT id, row_hash FROM order_events ORDER BY id DESC LIMIT 1").fetchone()
        gen.next_event_id, gen.prev_event_hash = (head[0] + 1, head[1]) if head else (1, gen.prev_event_hash)
        counters = dict(conn.execute("SELECT year, last_value FROM order_counters").fetchall())
        patients = [r[0] for r in conn.execute("SELECT id FROM patients ORDER BY random() LIMIT 5000")]
        today = now.astimezone(zone).date()
        day_start = datetime.combine(today, time(7), zone).astimezone(UTC)
        moments = sorted(now - timedelta(minutes=rng.uniform(60, 48 * 60)) for _ in range(count))
        visits, orders, events = [], [], []
        for index, moment in enumerate(moments):
            year = moment.astimezone(zone).year
            counters[year] = counters.get(year, 0) + 1
            number = f"{year:04d}-{counters[year]:05d}"
            patient_id, visit_id = rng.choice(patients), gen.uuid()
            doctor = rng.choice(people["doctor"])
            visit_at = moment - timedelta(minutes=30)
            visits.append((f.id(visit_id), f.id(patient_id), f.dt(visit_at), "Peak benchmark worklist", None,
                           f.id(doctor.id), f.dt(visit_at)))
            planned = day_start + timedelta(minutes=(12 * 60 * index) // count)
            order, order_events = gen.order_rows(
                gen.uuid(), f"ACC-{number}", f"ORD-{number}", patient_id, visit_id, doctor, None,
                "Peak benchmark: worklist at scale.", None, moment, people, status="scheduled", modality=modality,
                planned_for=planned)
            orders.append(order)
            events.extend(order_events)
        with conn.cursor() as cursor:
            for table, rows in (("visits", visits), ("imaging_orders", orders), ("order_events", events)):
                with cursor.copy(f"COPY {table} ({', '.join(COLUMNS[table])}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            for year, value in counters.items():
                cursor.execute("INSERT INTO order_counters (year, last_value) VALUES (%s, %s) ON CONFLICT (year) "
                               "DO UPDATE SET last_value = excluded.last_value", (year, value))
            cursor.execute("SELECT setval(pg_get_serial_sequence('order_events', 'id'), "
                           "(SELECT max(id) FROM order_events))")
        conn.commit()
        conn.autocommit = True
        conn.execute("ANALYZE imaging_orders")
    return {"orders": count, "modality": modality, "day": today.isoformat(), "events": len(events)}
