"""Command line: ``flask --app wsgi seed [--demo]`` and ``flask --app wsgi users create``."""

from __future__ import annotations

import json
import random
from datetime import date, datetime, time, timedelta
from pathlib import Path

import click
from flask import Flask
from sqlalchemy import func, select

from webapp.auth.models import User
from webapp.auth.roles import Role
from webapp.db_types import clinic_today, clinic_zone, utcnow
from webapp.extensions import db, writing
from webapp.imaging import booking, services
from webapp.imaging.models import ImagingOrder, Station
from webapp.imaging.reference import load_reference_data
from webapp.patients.models import Patient
from webapp.safety import screening
from webapp.visits.models import Diagnosis, Visit

# Demo accounts only: printed by `seed --demo` and listed in the README. Never use in production.
DEMO_USERS = [
    ("doctor", Role.DOCTOR, "Dr. Amara Okafor"),
    ("scheduler", Role.SCHEDULER, "Sam Lindqvist"),
    ("technician", Role.TECHNICIAN, "Tomás Reyes"),
    ("radiologist", Role.RADIOLOGIST, "Dr. Priya Raman"),
    ("admin", Role.ADMIN, "IT Admin"),
    ("wall", Role.DISPLAY, "Department wall display"),
]


# One scanner (DICOM station) per modality, so scheduling can book one and the worklist has AE titles.
DEMO_STATIONS = [
    ("DX_ROOM1", "XRAY", "X-ray room 1"), ("CT_MAIN", "CT", "CT suite"), ("MR_1", "MRI", "MRI suite"),
    ("US_1", "US", "Ultrasound room"), ("MG_1", "MG", "Breast imaging"), ("RF_1", "FL", "Fluoroscopy room"),
]


def demo_password(username: str) -> str:
    return f"{username}-demo-2026"


def create_user(username: str, role: str, password: str, full_name: str = "", provider_id: str | None = None,
                trainee: bool = False) -> User:
    """Create a user (flushes). Raises ValueError with a message for bad input.

    ``provider_id``: how the hospital's systems name this provider (an NPI): HL7 ORC-12, OBR-16
    and PV1-7/8 find the account by it (webapp.hl7.providers). ``trainee``: a radiologist in
    training, whose reports are preliminary until an attending co-signs them.
    """
    username = (username or "").strip()
    if not username or len(username) > 64:
        raise ValueError("The username must be 1 to 64 characters.")
    if role not in {str(r) for r in Role}:
        raise ValueError(f"Unknown role {role!r}; one of {', '.join(str(r) for r in Role)}.")
    if len(password or "") < 8:
        raise ValueError("The password must be at least 8 characters.")
    if db.session.scalar(select(User).where(func.lower(User.username) == username.lower())):
        raise ValueError(f"A user named {username!r} exists already.")
    provider_id = (provider_id or "").strip() or None
    if provider_id is not None:
        if len(provider_id) > 64 or any(char in provider_id for char in "|^~\\&"):
            raise ValueError("The provider id must be 1 to 64 characters without HL7 delimiters (| ^ ~ \\ &).")
        if db.session.scalar(select(User).where(func.lower(User.provider_id) == provider_id.lower())):
            raise ValueError(f"Another account has provider id {provider_id!r}.")
    if trainee and role != str(Role.RADIOLOGIST):
        raise ValueError("Only a radiologist is a trainee (--trainee needs --role radiologist).")
    user = User(username=username, role=role, full_name=full_name[:128] or username, provider_id=provider_id)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    if trainee:
        user.is_trainee = True
        db.session.flush()
    return user


# (first name, sex): cases such as mammography and obstetric ultrasound go to women only.
FIRST_NAMES = [("Maria", "female"), ("John", "male"), ("Aisha", "female"), ("Chen", "male"), ("Olga", "female"),
               ("Kwame", "male"), ("Lucia", "female"), ("Ravi", "male"), ("Emma", "female"), ("Yusuf", "male"),
               ("Sofia", "female"), ("Liam", "male"), ("Fatima", "female"), ("Noah", "male"), ("Ingrid", "female"),
               ("Mateo", "male"), ("Hana", "female"), ("Omar", "male"), ("Grace", "female"), ("Pavel", "male")]
LAST_NAMES = ["Garcia", "Smith", "Bello", "Wang", "Petrova", "Mensah", "Rossi", "Patel", "Brown", "Demir",
              "Silva", "Murphy", "Haddad", "Johnson", "Berg", "Lopez", "Sato", "Nasser", "Taylor", "Novak"]
FEMALE_ONLY_BODY_PARTS = {"BREAST", "OBSTETRIC"}
# Demo visits: (reason, ICD-10 code, description, clinical notes, modality, body part, CPT, laterality).
VISIT_CASES = [
    tuple(case.values()) for case in json.loads((Path(__file__).with_name("demo_visits.json")).read_text())
]


def load_demo_data(seed: int = 4) -> dict[str, User]:
    """About 20 patients with visits and diagnoses, about 60 orders over every status, one user per role."""
    rng = random.Random(seed)
    users = {}
    for username, role, full_name in DEMO_USERS:
        users[str(role)] = db.session.scalar(select(User).where(User.username == username)) or create_user(
            username, str(role), demo_password(username), full_name
        )
    doctor = users["doctor"]
    for ae_title, modality, room in DEMO_STATIONS:
        if db.session.scalar(select(Station).where(Station.ae_title == ae_title)) is None:
            db.session.add(Station(ae_title=ae_title, modality=modality, room=room, is_active=True))
    db.session.flush()
    now = utcnow()
    today = clinic_today(now)
    zone = clinic_zone()
    plans = []
    for index in range(20):
        first_name, sex = FIRST_NAMES[index]
        patient = Patient(
            mrn=f"MRN{100001 + index}", first_name=first_name, last_name=LAST_NAMES[index], sex=sex,
            date_of_birth=date(1940 + rng.randrange(70), rng.randrange(1, 13), rng.randrange(1, 28)),
        )
        db.session.add(patient)
        db.session.flush()
        cases = [c for c in VISIT_CASES if sex == "female" or c[5] not in FEMALE_ONLY_BODY_PARTS]
        for visit_index in range(rng.choice([1, 2])):
            reason, icd, description, notes, modality, body_part, cpt, side = cases[(index + visit_index * 5) % len(cases)]
            # A third of the first visits are today's; second visits are months old.
            if visit_index == 0:
                days_ago = 0 if index % 3 == 0 else rng.randrange(1, 12)
                targets = ("ordered", "scheduled", "in_progress") if days_ago == 0 else STATUS_CYCLE
            else:
                days_ago = rng.randrange(30, 400)
                targets = ("reported", "reported", "reported", "cancelled")
            visit_at = min(
                datetime.combine(today - timedelta(days=days_ago), time(8, rng.randrange(0, 59)), zone),
                now - timedelta(minutes=90),
            )
            visit = Visit(patient_id=patient.id, reason=reason, clinical_notes=notes,
                          attending_doctor_id=doctor.id, visit_date=visit_at)
            visit.diagnoses.append(Diagnosis(code=icd, description=description, position=0))
            db.session.add(visit)
            db.session.flush()
            for order_index in range(rng.choice([1, 2, 2, 2])):
                plans.append((visit_at + timedelta(minutes=20 + order_index), dict(
                    patient_id=patient.id, visit_id=visit.id, modality=modality, body_part=body_part,
                    procedure_code=cpt, laterality=side, clinical_indication=f"{description} ({icd})",
                    clinical_history=notes, priority=rng.choice(["routine", "routine", "urgent", "stat"]),
                    diagnosis_id=visit.diagnoses[0].id,
                ), targets[(index + order_index) % len(targets)]))
    # Placed in time order, so accession numbers follow the order dates as they would in real life.
    running = []  # scans still running are started last: one scan at a time per scanner
    for ordered_at, fields, target in sorted(plans, key=lambda plan: plan[0]):
        order = services.create_order(doctor, now=ordered_at, **fields)
        if target == "in_progress":
            running.append(order)
        else:
            _advance_demo_order(order, target, users, rng, now)
    for order in running:
        _advance_demo_order(order, "in_progress", users, rng, now)
    db.session.flush()
    from webapp.reporting.demo import load_reporting_demo

    load_reporting_demo(users, now)
    from webapp.safety.demo import load_safety_demo

    load_safety_demo(users, now)
    return users


STATUS_CYCLE = ("ordered", "scheduled", "in_progress", "completed", "reported", "cancelled", "reported", "completed")


def _demo_station(order: ImagingOrder) -> str:
    return next(ae for ae, modality, _ in DEMO_STATIONS if modality == order.modality)


def _demo_booking(order: ImagingOrder) -> dict:
    """The demo books by the quarter hour on one scanner per modality: overlaps are allowed, and a
    STAT or urgent order booked later than its target says why (webapp.imaging.booking)."""
    reason = "Demo data: booked at the scanner's next free time." if order.priority != "routine" else None
    return {"allow_overlap": True, "reason": reason}


def _quarter_hour(moment: datetime) -> datetime:
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


def _advance_demo_order(order: ImagingOrder, target: str, users: dict[str, User], rng, now: datetime) -> None:
    """Move a demo order to ``target`` with believable times: scans after booking, reports after scans."""
    ordered = order.ordered_date
    if target == "ordered":
        return
    if target == "cancelled":
        services.cancel_order(users["doctor"], order, reason="Patient declined the examination.",
                              now=min(ordered + timedelta(hours=2), now))
        return
    if target == "scheduled":
        slot = _quarter_hour(now + timedelta(hours=rng.randrange(1, 30)))
        services.schedule_order(users["scheduler"], order, scheduled_date=slot, station_ae=_demo_station(order),
                                now=min(ordered + timedelta(minutes=30), now), **_demo_booking(order))
        return
    if target == "in_progress":
        slot = _quarter_hour(now - timedelta(minutes=30))
        start = now - timedelta(minutes=rng.randrange(5, 25))
    else:
        slot = _quarter_hour(min(ordered + timedelta(days=1), now - timedelta(hours=4)))
        start = slot + timedelta(minutes=rng.randrange(0, 20))
    services.schedule_order(users["scheduler"], order, scheduled_date=max(slot, ordered), station_ae=_demo_station(order),
                            now=min(ordered + timedelta(minutes=30), start), **_demo_booking(order))
    if order.awaiting_protocol:  # CT and MRI with contrast: a radiologist protocols before the scan
        choices = screening.protocol_choices(order) or ["Routine"]
        services.apply_action(users["radiologist"], order, "protocol", protocol=choices[0], protocol_notes=None,
                              now=min(ordered + timedelta(minutes=40), start))
    if booking.scanning_on(order.scheduled_station_ae, exclude=order.id):
        return  # (only a running scan gets here) one scan at a time per scanner: this one waits, booked
    services.start_order(users["technician"], order, now=start)
    if target == "in_progress":
        return
    done = start + timedelta(minutes=rng.randrange(10, 45))
    services.complete_order(users["technician"], order, number_of_images=rng.randrange(2, 400), now=done)
    if target == "reported":
        services.report_order(
            users["radiologist"], order, findings="No acute abnormality identified.",
            impression="Normal study.", report_text="Technique: standard protocol. Comparison: none.",
            now=min(done + timedelta(hours=rng.randrange(1, 6)), now),
        )


def register(app: Flask) -> None:
    from webapp.reporting.templates import load_report_templates

    @app.cli.command("seed")
    @click.option("--demo", is_flag=True, help="Also load demo patients, visits, orders and users.")
    def seed_command(demo: bool) -> None:
        """Load reference data (modalities, body parts, procedures); safe to run twice."""
        with writing():
            load_reference_data()
            load_report_templates()
            db.session.commit()
            click.echo("Reference data loaded.")
            if not demo:
                return
            if db.session.scalar(select(func.count()).select_from(Patient)):
                click.echo("Demo data not loaded: the database already has patients.")
                return
            load_demo_data()
            db.session.commit()
        click.echo(f"Demo data loaded: {db.session.scalar(select(func.count()).select_from(ImagingOrder))} orders.")
        click.echo("Demo accounts (for trying the system only, never for real patients):")
        for username, role, _ in DEMO_USERS:
            click.echo(f"  {username:<12} {str(role):<12} password: {demo_password(username)}")

    users_group = click.Group("users", help="Manage user accounts.")
    app.cli.add_command(users_group)

    @users_group.command("create")
    @click.argument("username")
    @click.option("--role", required=True, type=click.Choice([str(r) for r in Role]))
    @click.option("--password", required=True)
    @click.option("--full-name", default="")
    @click.option("--provider-id", default=None,
                  help="The provider's id in the hospital's systems (e.g. an NPI), as HL7 ORC-12 and PV1-7 send it.")
    @click.option("--trainee", is_flag=True,
                  help="A radiologist in training: their reports need an attending's co-signature.")
    def create_user_command(username: str, role: str, password: str, full_name: str, provider_id: str | None,
                            trainee: bool) -> None:
        """Create a user with a role."""
        with writing():
            try:
                user = create_user(username, role, password, full_name, provider_id, trainee)
            except ValueError as exc:
                raise click.ClickException(str(exc)) from None
            db.session.commit()
        click.echo(f"Created {user.username} ({user.role}{', trainee' if user.is_trainee else ''}).")
