"""Generate N realistic imaging orders (with patients, visits, diagnoses, users and events) in bulk.

    .venv/bin/python -m bench.generate --orders 100000 --db sqlite:///instance/bench/bench.db
    .venv/bin/python -m bench.generate --orders 1000000 --db postgresql+psycopg://postgres@127.0.0.1/imaging_bench

The rows look exactly like what the service layer writes: accession and order numbers
``ACC-YYYY-NNNNN`` / ``ORD-YYYY-NNNNN`` consecutive per clinic year (and ``order_counters`` set to
match), a ``2.25.<uuid>`` Study Instance UID per order, one ``order_events`` row per change with
``order_version`` counting up, and ``version`` equal to the number of changes. Statuses follow the
age of the order: old orders are reported or cancelled, the last days hold every open status.

The schema comes from the migrations (``flask db upgrade``). Loading is bulk: PostgreSQL with
COPY (psycopg 3) with user triggers off (``session_replication_role = replica``), SQLite with
executemany in large transactions with the order count triggers dropped; secondary indexes are
dropped for the load and rebuilt afterwards, ``order_status_counts`` (which those triggers keep
in the app) is rebuilt from a GROUP BY of the loaded orders, then the tables are analysed.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

if __package__ in (None, ""):  # run as a script: python bench/generate.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    BENCH_PASSWORD,
    ROOT,
    Progress,
    ensure_postgres_database,
    is_postgres,
    libpq_url,
    make_app,
    normalise_url,
    sqlite_path,
)
from webapp.audit.chain import GENESIS_HASH, event_hash  # noqa: E402
from webapp.imaging import status_counts  # noqa: E402
from webapp.patients.identity import mrn_key  # noqa: E402
from webapp.patients.models import search_key  # noqa: E402

DEFAULT_DB = f"sqlite:///{ROOT / 'instance' / 'bench' / 'bench.db'}"
CHUNK_ORDERS = 20_000

STAFF = {  # role: how many users of it
    "doctor": 60,
    "scheduler": 10,
    "technician": 30,
    "radiologist": 20,
    "admin": 3,
    "display": 1,
}
MODALITY_WEIGHTS = {"XRAY": 40, "CT": 20, "US": 18, "MRI": 12, "MG": 6, "FL": 4}
PRIORITY_NAMES, PRIORITY_SHARES = ("routine", "urgent", "stat"), (80, 15, 5)
IMAGES = {"XRAY": (1, 4), "CT": (100, 900), "MRI": (150, 1200), "US": (8, 60), "MG": (4, 8), "FL": (10, 80)}
FINDINGS = [
    ("No acute cardiopulmonary abnormality.", "Normal study."),
    ("Right lower lobe consolidation with air bronchograms.", "Right lower lobe pneumonia."),
    ("Non-displaced fracture of the fourth metacarpal shaft.", "Fracture of the 4th metacarpal."),
    ("Gallbladder contains multiple shadowing calculi; wall 2 mm.", "Cholelithiasis without cholecystitis."),
    ("Complete tear of the anterior cruciate ligament; joint effusion.", "ACL rupture."),
    ("L4-L5 disc protrusion contacting the right L5 nerve root.", "L4-L5 disc protrusion, right."),
    ("No intracranial haemorrhage, mass effect or acute infarct.", "Normal CT head."),
    ("Scattered fibroglandular density, no suspicious mass.", "BI-RADS 1: negative."),
]
CANCEL_REASONS = [
    "Patient declined the examination.", "Duplicate order.", "Clinical question answered by another test.",
    "Patient transferred to another hospital.", "Contraindication found (contrast allergy).",
]
NOTE_TEXTS = [
    "Patient needs wheelchair transport.", "Interpreter required (Spanish).", "Called patient, no answer.",
    "Prior images requested from outside hospital.", "Patient is claustrophobic; consider sedation.",
]
EXTRA_DIAGNOSES = [
    ("I10", "Essential (primary) hypertension"), ("E11.9", "Type 2 diabetes mellitus without complications"),
    ("J45.909", "Unspecified asthma, uncomplicated"), ("N18.3", "Chronic kidney disease, stage 3"),
    ("Z87.891", "Personal history of nicotine dependence"),
]
FIRST_NAMES = {
    "female": ("Maria", "Aisha", "Olga", "Lucia", "Emma", "Sofia", "Fatima", "Ingrid", "Hana", "Grace", "Amara",
               "Priya", "Mei", "Zara", "Elena"),
    "male": ("John", "Chen", "Kwame", "Ravi", "Yusuf", "Liam", "Noah", "Mateo", "Omar", "Pavel", "Tomás", "Sam",
             "Ivan", "Kofi", "Arjun"),
}
LAST_NAMES = ("Garcia", "Smith", "Bello", "Wang", "Petrova", "Mensah", "Rossi", "Patel", "Brown", "Demir", "Silva",
              "Murphy", "Haddad", "Johnson", "Berg", "Lopez", "Sato", "Nasser", "Taylor", "Novak", "Okafor", "Raman",
              "Lindqvist", "Reyes", "Kim", "Nguyen", "Müller", "Dubois", "Kowalski", "Andersen")
INDICATIONS = [
    "Follow-up of known finding.", "Rule out fracture after fall.", "Persistent pain, not improving.",
    "Pre-operative assessment.", "Staging.", "Screening.",
]

# ---------------------------------------------------------------------------- table columns

COLUMNS = {
    "users": ("id", "username", "full_name", "password_hash", "role", "is_enabled", "session_generation",
              "created_at", "last_login_at"),
    "patients": ("id", "mrn", "first_name", "last_name", "date_of_birth", "sex", "created_at", "mrn_key",
                 "search_key"),
    "visits": ("id", "patient_id", "visit_date", "reason", "clinical_notes", "attending_doctor_id", "created_at"),
    "diagnoses": ("id", "visit_id", "code", "description", "position"),
    "imaging_orders": (
        "id", "accession_number", "order_number", "patient_id", "visit_id", "ordered_by", "diagnosis_id",
        "modality", "body_part", "procedure_code", "procedure_name", "laterality", "clinical_indication",
        "clinical_history", "special_instructions", "status", "priority", "ordered_date", "scheduled_date",
        "performed_date", "completed_date", "reported_date", "cancelled_date", "scheduled_by",
        "performing_technician", "reporting_radiologist", "cancelled_by", "cancellation_reason", "report_text",
        "findings", "impression", "study_instance_uid", "number_of_images", "notes", "created_at", "updated_at",
        "version",
    ),
    "order_events": ("id", "order_id", "event_type", "from_status", "to_status", "order_version", "actor_id",
                     "actor_label", "actor_role", "created_at", "changes", "note", "prev_hash", "row_hash"),
    "order_counters": ("year", "last_value"),
}
FORCED_NEWEST = ("cancelled", "reported", "completed", "in_progress", "scheduled", "ordered")
LOADED_TABLES = ("users", "patients", "visits", "diagnoses", "imaging_orders", "order_events", "order_counters")


# ---------------------------------------------------------------------------- value formats


class Formats:
    """How Python values reach each database: what SQLAlchemy's column types would bind."""

    def __init__(self, sqlite: bool) -> None:
        self.sqlite = sqlite

    def id(self, value: uuid.UUID | None):
        if value is None:
            return None
        return value.hex if self.sqlite else value  # SQLAlchemy's Uuid on SQLite is CHAR(32) hex

    def dt(self, value: datetime | None):
        if value is None:
            return None
        if self.sqlite:  # SQLite keeps naive UTC, always with microseconds (SQLAlchemy's format)
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")
        return value

    def day(self, value: date):
        return value.isoformat() if self.sqlite else value

    def flag(self, value: bool):
        return int(value) if self.sqlite else value

    @staticmethod
    def json(value) -> str:
        return json.dumps(value)


# ---------------------------------------------------------------------------- loaders


class SqliteLoader:
    def __init__(self, url: str) -> None:
        import sqlite3

        self.conn = sqlite3.connect(sqlite_path(url), isolation_level=None)
        self.conn.execute("PRAGMA foreign_keys=OFF")
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.execute("PRAGMA cache_size=-200000")
        self.saved_indexes: list[tuple[str, str]] = []

    def drop_indexes(self) -> None:
        names = ", ".join(f"'{t}'" for t in LOADED_TABLES)
        self.saved_indexes = self.conn.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({names})"
        ).fetchall()
        for name, _ in self.saved_indexes:
            self.conn.execute(f'DROP INDEX "{name}"')

    def drop_triggers(self) -> None:
        # The order count triggers would run once per loaded order (slow), and the rebuild in
        # finish() counts the orders anyway.
        for statement in status_counts.drop_statements("sqlite"):
            self.conn.execute(statement)

    def begin(self) -> None:
        self.conn.execute("BEGIN")

    def insert(self, table: str, rows: list[tuple]) -> None:
        if rows:
            columns = COLUMNS[table]
            marks = ", ".join("?" * len(columns))
            self.conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def finish(self, progress_factory) -> None:
        bar = progress_factory("rebuilding indexes", len(self.saved_indexes))
        for _, sql in self.saved_indexes:
            self.conn.execute(sql)
            bar.advance()
        bar.close()
        self.conn.execute("BEGIN")
        for statement in status_counts.trigger_statements("sqlite") + list(status_counts.REBUILD_STATEMENTS):
            self.conn.execute(statement)
        self.conn.execute("COMMIT")
        self.conn.execute("ANALYZE")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.close()


class PostgresLoader:
    def __init__(self, url: str) -> None:
        import psycopg

        self.conn = psycopg.connect(libpq_url(url))
        self.saved_indexes: list[tuple[str, str]] = []
        # Superusers may skip the foreign-key triggers during the load (the generator builds
        # consistent rows); others simply load with the checks on.
        try:
            self.conn.execute("SET session_replication_role = replica")
            self.conn.commit()
        except psycopg.Error:
            self.conn.rollback()
        self.conn.execute("SET maintenance_work_mem = '256MB'")
        self.conn.execute("SET synchronous_commit = off")
        self.conn.commit()

    def drop_indexes(self) -> None:
        self.saved_indexes = self.conn.execute(
            """
            SELECT i.indexname, i.indexdef FROM pg_indexes i
            WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s)
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
            """,
            (list(LOADED_TABLES),),
        ).fetchall()
        for name, _ in self.saved_indexes:
            self.conn.execute(f'DROP INDEX "{name}"')
        self.conn.commit()

    def drop_triggers(self) -> None:
        # Nothing to drop: under session_replication_role = replica user triggers (the order
        # counts') do not fire. Without it they count during the load; finish() recounts anyway.
        pass

    def begin(self) -> None:
        pass  # psycopg opens the transaction on the first statement

    def insert(self, table: str, rows: list[tuple]) -> None:
        if not rows:
            return
        with self.conn.cursor() as cursor:
            with cursor.copy(f"COPY {table} ({', '.join(COLUMNS[table])}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)

    def commit(self) -> None:
        self.conn.commit()

    def finish(self, progress_factory) -> None:
        bar = progress_factory("rebuilding indexes", len(self.saved_indexes))
        for _, sql in self.saved_indexes:
            self.conn.execute(sql)
            self.conn.commit()
            bar.advance()
        bar.close()
        self.conn.execute(
            "SELECT setval(pg_get_serial_sequence('order_events', 'id'), "
            "(SELECT coalesce(max(id), 0) + 1 FROM order_events), false)"
        )
        for statement in status_counts.REBUILD_STATEMENTS:
            self.conn.execute(statement)
        self.conn.commit()
        self.conn.autocommit = True
        self.conn.execute("VACUUM ANALYZE")
        self.conn.close()


# ---------------------------------------------------------------------------- the generator


@dataclass
class Person:
    id: uuid.UUID
    username: str
    label: str
    role: str


@dataclass
class Summary:
    orders: int = 0
    patients: int = 0
    visits: int = 0
    diagnoses: int = 0
    events: int = 0
    users: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    counters: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0


class Generator:
    def __init__(self, *, orders: int, years: int, seed: int, now: datetime, zone: ZoneInfo, sqlite: bool,
                 procedures: list[tuple], body_parts: dict[str, bool], progress: bool | None = None) -> None:
        self.n_orders, self.years, self.now, self.zone = orders, years, now, zone
        self.rng = random.Random(seed)
        self.f = Formats(sqlite)
        self.progress = progress
        self.by_modality: dict[str, list[tuple]] = {}
        for proc in procedures:
            self.by_modality.setdefault(proc[2], []).append(proc)
        self.paired = body_parts
        self.summary = Summary()
        self.next_event_id = 1
        # The audit hash chain (webapp.audit.chain), continued event by event in id order.
        self.prev_event_hash = GENESIS_HASH

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    # -------------------------------------------------------------- reference-like rows

    def users(self) -> tuple[list[tuple], dict[str, list[Person]]]:
        from werkzeug.security import generate_password_hash

        password_hash = generate_password_hash(BENCH_PASSWORD)  # one hash: scrypt is slow by design
        rows, people = [], {}
        created = self.now - timedelta(days=365 * self.years + 30)
        for role, count in STAFF.items():
            for index in range(1, count + 1):
                username = f"{role}-{index:03d}"
                first = self.rng.choice(FIRST_NAMES[self.rng.choice(("female", "male"))])
                name = f"{first} {self.rng.choice(LAST_NAMES)}"
                if role in ("doctor", "radiologist"):
                    name = f"Dr. {name}"
                person = Person(self.uuid(), username, name, role)
                people.setdefault(role, []).append(person)
                rows.append((self.f.id(person.id), username, name, password_hash, role, self.f.flag(True), 0,
                             self.f.dt(created), None))
        self.summary.users = len(rows)
        return rows, people

    def patients(self, count: int) -> tuple[list[tuple], list[uuid.UUID], list[uuid.UUID]]:
        rows, everyone, women = [], [], []
        rng = self.rng
        oldest = date(1930, 1, 1).toordinal()
        span = date(2020, 12, 31).toordinal() - oldest
        created = self.now - timedelta(days=365 * self.years + 10)
        for index in range(count):
            roll = rng.random()
            sex = "female" if roll < 0.52 else "male" if roll < 0.99 else rng.choice(("other", "unknown"))
            pid = self.uuid()
            everyone.append(pid)
            if sex == "female":
                women.append(pid)
            mrn, first, last = f"B{index + 1:09d}", rng.choice(FIRST_NAMES.get(sex) or FIRST_NAMES["female"]), \
                rng.choice(LAST_NAMES)
            rows.append((
                self.f.id(pid), mrn, first, last,
                self.f.day(date.fromordinal(oldest + rng.randrange(span))), sex, self.f.dt(created),
                mrn_key(mrn), search_key(last, first, mrn),
            ))
        self.summary.patients = count
        return rows, everyone, women or everyone

    # -------------------------------------------------------------- order times

    def order_times(self) -> list[datetime]:
        """Sorted order moments over ``years``; the last 3 weeks get at least 3% of them."""
        rng, n = self.rng, self.n_orders
        span_days = 365 * self.years
        recent_days = 21
        recent_share = max(recent_days / span_days, 0.03)
        recent_start = self.now - timedelta(days=recent_days)
        old_start = self.now - timedelta(days=span_days)
        old_seconds = (recent_start - old_start).total_seconds()
        recent_seconds = recent_days * 86400.0
        offsets = []
        for _ in range(n):
            if rng.random() < recent_share:
                offsets.append(old_seconds + rng.random() * recent_seconds)
            else:
                offsets.append(rng.random() * old_seconds)
        offsets.sort()
        # Microsecond precision, as the app writes (utcnow()).
        return [old_start + timedelta(microseconds=int(o * 1e6)) for o in offsets]

    # -------------------------------------------------------------- one order's life

    def target_status(self, age: timedelta) -> str:
        roll = self.rng.random()
        days = age.total_seconds() / 86400
        if days > 30:
            table = (("reported", 0.93), ("cancelled", 1.0))
        elif days > 7:
            table = (("reported", 0.86), ("cancelled", 0.92), ("completed", 0.97), ("scheduled", 0.99), ("ordered", 1.0))
        elif days > 1:
            table = (("reported", 0.45), ("completed", 0.65), ("scheduled", 0.82), ("ordered", 0.90),
                     ("in_progress", 0.93), ("cancelled", 1.0))
        else:
            table = (("ordered", 0.35), ("scheduled", 0.65), ("in_progress", 0.73), ("completed", 0.85),
                     ("reported", 0.95), ("cancelled", 1.0))
        for status, edge in table:
            if roll < edge:
                return status
        return table[-1][0]

    def plan(self, status: str, priority: str) -> list[str]:
        """The steps (event types) that lead the order to ``status``."""
        rng = self.rng
        if status == "cancelled":
            stage = rng.choices(("ordered", "scheduled", "in_progress", "completed"), (50, 35, 5, 10))[0]
            steps = self.plan(stage, priority) + ["cancel"]
        else:
            path = ["schedule", "start", "complete", "report"]
            order = ("ordered", "scheduled", "in_progress", "completed", "reported")
            steps = ["created"] + path[: order.index(status)]
            if "schedule" in steps and "start" not in steps and rng.random() < 0.08:
                steps.append("reschedule")
            elif "start" in steps and rng.random() < 0.08:
                steps.insert(steps.index("start"), "reschedule")
        if rng.random() < 0.05 and "note" not in steps:
            steps.insert(1, "note")
        return steps

    def step_gap(self, step: str, priority: str) -> float:
        """Typical minutes between the previous step and this one."""
        rng = self.rng
        fast = priority != "routine"
        if step == "note":
            return rng.uniform(2, 60)
        if step == "schedule":
            return rng.uniform(3, 45) if fast else rng.uniform(10, 2 * 24 * 60)
        if step == "reschedule":
            return rng.uniform(30, 24 * 60)
        if step == "start":
            return rng.uniform(10, 90) if fast else rng.uniform(60, 7 * 24 * 60)
        if step == "complete":
            return rng.uniform(5, 60)
        if step == "report":
            return rng.uniform(10, 60) if fast else rng.uniform(60, 3 * 24 * 60)
        return rng.uniform(5, 3 * 24 * 60)  # cancel

    def order_rows(self, order_id, accession, order_number, patient_id, visit_id, doctor: Person, diagnosis_id,
                   indication, history, moment: datetime, people: dict[str, list[Person]],
                   status: str | None = None, modality: str | None = None, planned_for: datetime | None = None):
        """One order and its events; ``modality`` and ``planned_for`` (the scheduled start) are
        drawn at random unless given (bench/peak_data.py books a day's worklist with them)."""
        rng, f = self.rng, self.f
        modality = modality or rng.choices(list(MODALITY_WEIGHTS), list(MODALITY_WEIGHTS.values()))[0]
        code, name, _, body_part, needs_side = rng.choice(self.by_modality[modality])
        if rng.random() < 0.05:  # ordered by modality and body part only
            code = name = None
            needs_side = self.paired[body_part]
        laterality = None
        if needs_side:
            laterality = "bilateral" if modality == "MG" and code == "77067" else rng.choice(("left", "right", "bilateral"))
        priority = rng.choices(PRIORITY_NAMES, PRIORITY_SHARES)[0]
        status = status or self.target_status(self.now - moment)
        steps = self.plan(status, priority)

        gaps = [0.0] + [self.step_gap(step, priority) for step in steps[1:]]
        total = sum(gaps)
        room = (self.now - moment).total_seconds() / 60 * 0.95
        if total > room:  # a recent order: squeeze its history into the time it had
            gaps = [g * room / total for g in gaps]
        times, clock = [], moment
        for gap in gaps:
            clock = clock + timedelta(minutes=gap)
            times.append(clock)

        values = dict.fromkeys(("scheduled_date", "performed_date", "completed_date", "reported_date",
                                "cancelled_date", "scheduled_by", "performing_technician",
                                "reporting_radiologist", "cancelled_by", "cancellation_reason", "report_text",
                                "findings", "impression", "number_of_images", "notes"))
        events = []
        current = "ordered"
        for version, (step, at) in enumerate(zip(steps, times, strict=True), start=1):
            from_status, note, changes = current, None, {}
            if step == "created":
                actor, from_status = doctor, None
                changes = {"modality": modality, "body_part": body_part, "priority": priority,
                           "procedure_code": code, "laterality": laterality}
            elif step == "note":
                actor = rng.choice(people[rng.choice(("doctor", "scheduler", "technician"))])
                note = rng.choice(NOTE_TEXTS)
                line = f"[{at:%Y-%m-%d %H:%M} UTC, {actor.label}] {note}"
                values["notes"] = f"{values['notes']}\n{line}" if values["notes"] else line
            elif step in ("schedule", "reschedule"):
                actor = rng.choice(people["scheduler"])
                next_index = steps.index("start") if "start" in steps else None
                if planned_for is not None:
                    planned = planned_for
                elif next_index is not None and step == steps[next_index - 1]:
                    start_at = times[next_index]
                    planned = start_at.replace(second=0, microsecond=0) - timedelta(minutes=start_at.minute % 15)
                else:
                    planned = (at + timedelta(hours=rng.uniform(1, 24 * 7))).replace(second=0, microsecond=0)
                changes = {"scheduled_date": {"from": values["scheduled_date"] and values["scheduled_date"].isoformat(),
                                              "to": planned.isoformat()}}
                values["scheduled_date"], values["scheduled_by"] = planned, actor.id
                current = "scheduled"
            elif step == "start":
                actor = rng.choice(people["technician"])
                values["performed_date"], values["performing_technician"] = at, actor.id
                technician = actor
                current = "in_progress"
            elif step == "complete":
                actor = technician
                images = rng.randint(*IMAGES[modality])
                values["completed_date"], values["number_of_images"] = at, images
                changes = {"number_of_images": images}
                current = "completed"
            elif step == "report":
                actor = rng.choice(people["radiologist"])
                findings, impression = rng.choice(FINDINGS)
                values.update(reported_date=at, reporting_radiologist=actor.id, findings=findings,
                              impression=impression)
                changes = {"report": {"findings": findings, "impression": impression, "report_text": None}}
                current = "reported"
            else:  # cancel
                actor = doctor if rng.random() < 0.9 else rng.choice(people["admin"])
                reason = rng.choice(CANCEL_REASONS)
                values.update(cancelled_date=at, cancelled_by=actor.id, cancellation_reason=reason)
                changes = {"reason": reason}
                current = "cancelled"
            row_hash = event_hash(self.prev_event_hash, {
                "id": self.next_event_id, "order_id": order_id, "event_type": step, "from_status": from_status,
                "to_status": current, "order_version": version, "actor_id": actor.id, "actor_label": actor.label,
                "actor_role": actor.role, "created_at": at, "changes": changes, "note": note,
            })
            events.append((
                self.next_event_id, f.id(order_id), step, from_status, current, version, f.id(actor.id),
                actor.label, actor.role, f.dt(at), f.json(changes), note, self.prev_event_hash, row_hash,
            ))
            self.prev_event_hash = row_hash
            self.next_event_id += 1
        assert current == status, (steps, status)

        order = (
            f.id(order_id), accession, order_number, f.id(patient_id), f.id(visit_id), f.id(doctor.id),
            f.id(diagnosis_id), modality, body_part, code, name, laterality, indication, history, None,
            status, priority, f.dt(moment), f.dt(values["scheduled_date"]), f.dt(values["performed_date"]),
            f.dt(values["completed_date"]), f.dt(values["reported_date"]), f.dt(values["cancelled_date"]),
            f.id(values["scheduled_by"]), f.id(values["performing_technician"]),
            f.id(values["reporting_radiologist"]), f.id(values["cancelled_by"]), values["cancellation_reason"],
            values["report_text"], values["findings"], values["impression"],
            f"2.25.{self.uuid().int}", values["number_of_images"], values["notes"], f.dt(moment), f.dt(times[-1]),
            len(events),
        )
        self.summary.by_status[status] = self.summary.by_status.get(status, 0) + 1
        return order, events

    # -------------------------------------------------------------- the whole load

    def run(self, loader) -> Summary:
        from webapp.cli import VISIT_CASES

        started = time.perf_counter()
        rng, f = self.rng, self.f
        user_rows, people = self.users()
        n_patients = max(20, self.n_orders // 4)
        patient_rows, everyone, women = self.patients(n_patients)
        loader.begin()
        loader.insert("users", user_rows)
        bar = Progress("patients", n_patients, enabled=self.progress)
        for start in range(0, n_patients, 50_000):
            loader.insert("patients", patient_rows[start: start + 50_000])
            bar.advance(len(patient_rows[start: start + 50_000]))
        bar.close()
        loader.commit()
        del patient_rows

        times = self.order_times()
        counters: dict[int, int] = {}
        visits, diagnoses, orders, events = [], [], [], []
        bar = Progress("orders", self.n_orders, enabled=self.progress)
        i = 0
        while i < self.n_orders:
            k = min(rng.choices((1, 2, 3), (70, 22, 8))[0], self.n_orders - i)
            reason, icd, description, notes, case_modality, case_part, _, _ = rng.choice(VISIT_CASES)
            patient_id = rng.choice(women if case_modality == "MG" or case_part == "OBSTETRIC" else everyone)
            doctor = rng.choice(people["doctor"])
            visit_id = self.uuid()
            visit_at = times[i] - timedelta(minutes=rng.uniform(10, 90))
            visits.append((f.id(visit_id), f.id(patient_id), f.dt(visit_at), reason, notes, f.id(doctor.id),
                           f.dt(visit_at)))
            diagnosis_ids = [self.uuid()]
            diagnoses.append((f.id(diagnosis_ids[0]), f.id(visit_id), icd, description, 0))
            if rng.random() < 0.3:
                extra_code, extra_text = rng.choice(EXTRA_DIAGNOSES)
                diagnosis_ids.append(self.uuid())
                diagnoses.append((f.id(diagnosis_ids[1]), f.id(visit_id), extra_code, extra_text, 1))
            for j in range(k):
                moment = times[i + j]
                year = self._year(moment)
                counters[year] = counters.get(year, 0) + 1
                value = counters[year]
                indication = f"{description} ({icd})" if j == 0 else rng.choice(INDICATIONS)
                order, order_events = self.order_rows(
                    self.uuid(), f"ACC-{year:04d}-{value:05d}", f"ORD-{year:04d}-{value:05d}", patient_id,
                    visit_id, doctor, diagnosis_ids[0] if rng.random() < 0.8 else None, indication, notes,
                    moment, people,
                    # The newest orders (placed in the last hours) show every status even in tiny runs.
                    status=FORCED_NEWEST[from_end] if (from_end := i + j - self.n_orders) >= -len(FORCED_NEWEST) else None,
                )
                orders.append(order)
                events.extend(order_events)
            i += k
            if len(orders) >= CHUNK_ORDERS or i >= self.n_orders:
                loader.begin()
                loader.insert("visits", visits)
                loader.insert("diagnoses", diagnoses)
                loader.insert("imaging_orders", orders)
                loader.insert("order_events", events)
                loader.commit()
                s = self.summary
                s.visits += len(visits)
                s.diagnoses += len(diagnoses)
                s.orders += len(orders)
                s.events += len(events)
                bar.advance(len(orders))
                visits, diagnoses, orders, events = [], [], [], []
        bar.close()
        loader.begin()
        loader.insert("order_counters", sorted(counters.items()))
        loader.commit()
        self.summary.counters = counters
        loader.finish(lambda label, total: Progress(label, total, enabled=self.progress))
        self.summary.seconds = round(time.perf_counter() - started, 1)
        return self.summary

    def _year(self, moment: datetime) -> int:
        return moment.astimezone(self.zone).year


def generate(database_url: str = DEFAULT_DB, *, orders: int = 100_000, years: int = 5, seed: int = 2026,
             fresh: bool = True, now: datetime | None = None, progress: bool | None = None) -> Summary:
    """Create the schema (migrations) and load ``orders`` generated orders into ``database_url``."""
    import flask_migrate

    from webapp.extensions import db, writing
    from webapp.imaging.models import BodyPart, ImagingOrder, Procedure
    from webapp.imaging.reference import load_reference_data

    database_url = normalise_url(database_url)
    postgres = is_postgres(database_url)
    if postgres:
        ensure_postgres_database(database_url, fresh=fresh)
    else:
        path = Path(sqlite_path(database_url))
        path.parent.mkdir(parents=True, exist_ok=True)
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    app = make_app(database_url)
    with app.app_context():
        flask_migrate.upgrade()
        with writing():
            load_reference_data()
            db.session.commit()
        if db.session.scalar(db.select(db.func.count()).select_from(ImagingOrder)):
            raise SystemExit(f"{database_url} already holds orders; use a fresh database (drop --keep).")
        procedures = [(p.code, p.name, p.modality, p.body_part, p.requires_laterality)
                      for p in db.session.scalars(db.select(Procedure).where(Procedure.is_active))]
        body_parts = {b.code: b.is_paired for b in db.session.scalars(db.select(BodyPart))}
        zone = ZoneInfo(app.config["APP_TIMEZONE"])
        db.session.remove()
        db.engine.dispose()
    generator = Generator(
        orders=orders, years=years, seed=seed, now=now or datetime.now(UTC), zone=zone, sqlite=not postgres,
        procedures=procedures, body_parts=body_parts, progress=progress,
    )
    loader = PostgresLoader(database_url) if postgres else SqliteLoader(database_url)
    loader.drop_indexes()
    loader.drop_triggers()
    return generator.run(loader)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000, help="how many orders (default 100000)")
    parser.add_argument("--db", default=DEFAULT_DB, help=f"SQLAlchemy URL (default {DEFAULT_DB})")
    parser.add_argument("--years", type=int, default=5, help="how many years of history (default 5)")
    parser.add_argument("--seed", type=int, default=2026, help="random seed (the data is reproducible)")
    parser.add_argument("--keep", action="store_true", help="do not drop an existing database first")
    args = parser.parse_args(argv)
    summary = generate(args.db, orders=args.orders, years=args.years, seed=args.seed, fresh=not args.keep)
    print(json.dumps(summary.__dict__ | {"counters": {str(k): v for k, v in summary.counters.items()}}, indent=2))


if __name__ == "__main__":
    main()
