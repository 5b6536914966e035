"""Orders for the department-day browser tests and screenshots, added to a live server's demo
database through the service layer (run in a child process with the server's environment):
a booking missed yesterday, tomorrow's 10:00 list with a STAT and a routine order at the same
time, and ``wall_orders`` open STAT and urgent orders for the wall. Prints the accessions as JSON."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.browser.live import ROOT

SCRIPT = r'''
import json, sys
from datetime import UTC, datetime, time, timedelta
from sqlalchemy import select, update
from webapp import create_app
from webapp.auth.models import User
from webapp.db_types import clinic_zone
from webapp.extensions import db, writing
from webapp.imaging import services
from webapp.imaging.models import ImagingOrder
from webapp.visits.models import Visit

wall_orders = int(sys.argv[1])
app = create_app()
with app.app_context(), writing():
    doctor = db.session.scalar(select(User).where(User.username == "doctor"))
    scheduler = db.session.scalar(select(User).where(User.username == "scheduler"))
    visits = list(db.session.scalars(select(Visit).order_by(Visit.visit_date.desc())))
    now = datetime.now(UTC)
    zone = clinic_zone()  # "tomorrow" and 10:00 are the clinic's, whatever the hour in UTC
    def order(n, priority, minutes_ago=0):
        visit = visits[n % len(visits)]
        made = services.create_order(doctor, patient_id=visit.patient_id, visit_id=visit.id, modality="XRAY",
                                     body_part="CHEST", procedure_code="71046", priority=priority,
                                     clinical_indication="Shortness of breath", now=now - timedelta(minutes=minutes_ago))
        return made
    def booked(made, when):
        services.schedule_order(scheduler, made, now + timedelta(hours=1), station_ae="DX_ROOM1",
                                allow_overlap=True, reason="Department-day test data")
        db.session.flush()
        db.session.execute(update(ImagingOrder).where(ImagingOrder.id == made.id).values(scheduled_date=when))
        return made
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    at_ten = datetime.combine(tomorrow, time(10, 0), zone)
    out = {
        "overdue": booked(order(0, "routine", 2000), now - timedelta(days=1)).accession_number,
        "ten_routine": booked(order(1, "routine", 30), at_ten).accession_number,
        "ten_stat": booked(order(2, "stat", 20), at_ten).accession_number,
        "tomorrow": tomorrow.isoformat(),
        "wall": [order(3 + n, "stat" if n % 3 else "urgent", 7 * n + 3).accession_number for n in range(wall_orders)],
    }
    db.session.commit()
print(json.dumps(out))
'''


def add_day_orders(server, wall_orders: int = 40) -> dict:
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(wall_orders)], cwd=ROOT, env=server.env,
                            capture_output=True, text=True, timeout=300, check=False)
    if result.returncode:
        raise RuntimeError(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])
