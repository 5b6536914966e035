"""Command line: ``flask --app wsgi seed [--demo]`` and ``flask --app wsgi users create``."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

import click
from flask import Flask
from sqlalchemy import func, select

from webapp.auth.models import User
from webapp.auth.roles import Role
from webapp.db_types import clinic_today, clinic_zone, utcnow
from webapp.extensions import db, writing
from webapp.imaging import services
from webapp.imaging.models import ImagingOrder, Procedure
from webapp.imaging.reference import load_reference_data
from webapp.patients.models import Patient
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


def demo_password(username: str) -> str:
    return f"{username}-demo-2026"


def create_user(username: str, role: str, password: str, full_name: str = "") -> User:
    """Create a user (flushes). Raises ValueError with a message for bad input."""
    username = (username or "").strip()
    if not username or len(username) > 64:
        raise ValueError("The username must be 1 to 64 characters.")
    if role not in {str(r) for r in Role}:
        raise ValueError(f"Unknown role {role!r}; one of {', '.join(str(r) for r in Role)}.")
    if len(password or "") < 8:
        raise ValueError("The password must be at least 8 characters.")
    if db.session.scalar(select(User).where(func.lower(User.username) == username.lower())):
        raise ValueError(f"A user named {username!r} exists already.")
    user = User(username=username, role=role, full_name=full_name[:128] or username)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


FIRST_NAMES = ["Maria", "John", "Aisha", "Chen", "Olga", "Kwame", "Lucia", "Ravi", "Emma", "Yusuf",
               "Sofia", "Liam", "Fatima", "Noah", "Ingrid", "Mateo", "Hana", "Omar", "Grace", "Pavel"]
LAST_NAMES = ["Garcia", "Smith", "Bello", "Wang", "Petrova", "Mensah", "Rossi", "Patel", "Brown", "Demir",
              "Silva", "Murphy", "Haddad", "Johnson", "Berg", "Lopez", "Sato", "Nasser", "Taylor", "Novak"]
VISIT_CASES = [
    ("Cough and fever for 5 days", "J18.9", "Pneumonia, unspecified organism",
     "Productive cough, fever 38.9 C, crackles right lower lobe.", "XRAY", "CHEST", "71046", None),
    ("Fall on outstretched hand", "S62.609A", "Fracture of finger, initial encounter",
     "Swelling and tenderness over the 4th metacarpal after a fall.", "XRAY", "EXTREMITY", "73130", "right"),
    ("Severe headache", "R51.9", "Headache, unspecified",
     "Sudden onset headache, worst of life, no focal deficit.", "CT", "HEAD", "70450", None),
    ("Abdominal pain", "R10.31", "Right lower quadrant pain",
     "RLQ tenderness, rebound, WBC 14.", "CT", "ABDOMEN", "74177", None),
    ("Knee pain after football", "S83.511A", "Sprain of ACL of right knee",
     "Positive Lachman test, effusion.", "MRI", "EXTREMITY", "73721", "right"),
    ("Low back pain with sciatica", "M54.41", "Lumbago with sciatica, right side",
     "Radiating pain down the right leg for 6 weeks, failed conservative care.", "MRI", "SPINE", "72148", None),
    ("Upper abdominal pain after meals", "K80.20", "Calculus of gallbladder",
     "Postprandial RUQ pain, Murphy sign positive.", "US", "ABDOMEN", "76700", None),
    ("Routine antenatal visit", "Z34.82", "Supervision of normal pregnancy, second trimester",
     "20 weeks, anatomy scan due.", "US", "OBSTETRIC", "76805", None),
    ("Breast screening", "Z12.31", "Screening mammogram for malignant neoplasm of breast",
     "Age 52, no symptoms, last mammogram 2 years ago.", "MG", "BREAST", "77067", "bilateral"),
    ("Difficulty swallowing", "R13.10", "Dysphagia, unspecified",
     "Progressive dysphagia to solids for 3 months.", "FL", "UPPER_GI", "74220", None),
    ("Calf swelling", "M79.661", "Pain in right lower leg",
     "Unilateral calf swelling, Wells score 2.", "US", "VASCULAR", "93970", None),
    ("Chest pain and dyspnoea", "R07.9", "Chest pain, unspecified",
     "Pleuritic chest pain, tachycardia, D-dimer raised.", "CT", "VASCULAR", "71275", None),
]


def load_demo_data(seed: int = 4) -> dict[str, User]:
    """About 20 patients with visits and diagnoses, about 60 orders over every status, one user per role."""
    rng = random.Random(seed)
    users = {}
    for username, role, full_name in DEMO_USERS:
        users[str(role)] = db.session.scalar(select(User).where(User.username == username)) or create_user(
            username, str(role), demo_password(username), full_name
        )
    doctor, scheduler, tech, rad, admin = (
        users["doctor"], users["scheduler"], users["technician"], users["radiologist"], users["admin"]
    )
    now = utcnow()
    today = clinic_today(now)
    zone = clinic_zone()
    statuses = ["ordered", "scheduled", "in_progress", "completed", "reported", "cancelled"]
    for index in range(20):
        patient = Patient(
            mrn=f"MRN{100001 + index}",
            first_name=FIRST_NAMES[index],
            last_name=LAST_NAMES[index],
            date_of_birth=date(1940 + rng.randrange(70), rng.randrange(1, 13), rng.randrange(1, 28)),
            sex=rng.choice(["female", "male"]) if index % 7 else "female",
        )
        db.session.add(patient)
        db.session.flush()
        for visit_index in range(rng.choice([1, 2])):
            case = VISIT_CASES[(index + visit_index * 5) % len(VISIT_CASES)]
            reason, icd, description, notes, modality, body_part, cpt, side = case
            if modality == "MG" or case[5] == "OBSTETRIC":
                patient.sex = "female"
            visit_day = today - timedelta(days=rng.randrange(0, 20) if visit_index == 0 else rng.randrange(30, 400))
            visit = Visit(
                patient_id=patient.id, reason=reason, clinical_notes=notes, attending_doctor_id=doctor.id,
                visit_date=datetime.combine(visit_day, time(9, rng.randrange(0, 59)), zone),
            )
            visit.diagnoses.append(Diagnosis(code=icd, description=description, position=0))
            db.session.add(visit)
            db.session.flush()
            for order_index in range(rng.choice([1, 2, 2, 2])):
                target = statuses[(index * 3 + visit_index + order_index) % len(statuses)]
                procedure = db.session.get(Procedure, cpt)
                ordered_at = visit.visit_date + timedelta(minutes=20 + order_index)
                order = services.create_order(
                    doctor, patient_id=patient.id, visit_id=visit.id, modality=modality, body_part=body_part,
                    procedure_code=procedure.code, laterality=side, clinical_indication=f"{description} ({icd})",
                    clinical_history=notes, priority=rng.choice(["routine", "routine", "urgent", "stat"]),
                    diagnosis_id=visit.diagnoses[0].id, now=min(ordered_at, now),
                )
                _advance_demo_order(order, target, users, rng, today, zone)
    del scheduler, tech, rad, admin
    db.session.flush()
    return users


def _advance_demo_order(order: ImagingOrder, target: str, users: dict[str, User], rng, today, zone) -> None:
    path = ["scheduled", "in_progress", "completed", "reported"]
    if target == "cancelled":
        services.cancel_order(users["doctor"], order, reason="Patient declined the examination.")
        return
    if target == "ordered":
        return
    when = datetime.combine(today, time(rng.randrange(8, 17), rng.choice([0, 15, 30, 45])), zone)
    services.schedule_order(users["scheduler"], order, scheduled_date=when)
    for status in path[1: path.index(target) + 1]:
        if status == "in_progress":
            services.start_order(users["technician"], order)
        elif status == "completed":
            services.complete_order(users["technician"], order, number_of_images=rng.randrange(2, 400))
        elif status == "reported":
            services.report_order(
                users["radiologist"], order, findings="No acute abnormality identified.",
                impression="Normal study.", report_text="Technique: standard protocol. Comparison: none.",
            )


def register(app: Flask) -> None:
    @app.cli.command("seed")
    @click.option("--demo", is_flag=True, help="Also load demo patients, visits, orders and users.")
    def seed_command(demo: bool) -> None:
        """Load reference data (modalities, body parts, procedures); safe to run twice."""
        with writing():
            load_reference_data()
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
    def create_user_command(username: str, role: str, password: str, full_name: str) -> None:
        """Create a user with a role."""
        with writing():
            try:
                user = create_user(username, role, password, full_name)
            except ValueError as exc:
                raise click.ClickException(str(exc)) from None
            db.session.commit()
        click.echo(f"Created {user.username} ({user.role}).")
