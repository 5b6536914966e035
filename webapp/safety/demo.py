"""Demo data for safety screening (``flask seed --demo``): one patient for each kind of alert of
docs/safety.md, each with an order that raises it, plus a protocoled and arrived patient waiting."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from webapp.db_types import clinic_today, clinic_zone
from webapp.extensions import db
from webapp.imaging import services
from webapp.patients.models import Patient
from webapp.safety import record
from webapp.visits.models import Diagnosis, Visit

CT_CONTRAST = ("CT", "ABDOMEN", "74177")
MRI_GADOLINIUM = ("MRI", "HEAD", "70553")
# (MRN, first, last, sex, born, record, exam, what the order shows)
CASES = [
    ("MRN200001", "Walter", "Hughes", "male", date(1948, 3, 2),
     {"egfr": 28, "on_metformin": True, "diabetes": True}, CT_CONTRAST, "eGFR below 30 with iodinated contrast; metformin"),
    ("MRN200002", "Irene", "Kovacs", "female", date(1971, 7, 19), {"egfr": 38}, CT_CONTRAST, "eGFR 30–44"),
    ("MRN200003", "George", "Adeyemi", "male", date(1952, 11, 5), {"diabetes": True}, CT_CONTRAST,
     "no recent eGFR for a patient at risk"),
    ("MRN200004", "Nadia", "Rahman", "female", date(1985, 1, 30),
     {"egfr": 95, "allergies": [{"substance": "iodinated_contrast", "reaction": "urticaria and wheeze",
                                 "severity": "moderate"}]}, CT_CONTRAST, "prior reaction to iodinated contrast"),
    ("MRN200005", "Peter", "Lindqvist", "male", date(1960, 9, 14), {"egfr": 24}, MRI_GADOLINIUM,
     "gadolinium with eGFR below 30"),
    ("MRN200006", "Clara", "Moreau", "female", date(1994, 4, 8), {"pregnancy": "possible"}, ("CT", "ABDOMEN", "74176"),
     "possibly pregnant, CT of the abdomen"),
    ("MRN200007", "Samuel", "Okafor", "male", date(1958, 6, 21),
     {"implants": [{"name": "Cardiac pacemaker (non-MR-conditional, 2004)", "mr_safety": "unsafe"}]},
     ("MRI", "HEAD", "70551"), "MR-unsafe pacemaker"),
    ("MRN200008", "Helga", "Brandt", "female", date(1955, 2, 11),
     {"implants": [{"name": "Hip prosthesis (titanium)", "mr_safety": "conditional"}]}, ("MRI", "PELVIS", "72195"),
     "MR-conditional hip prosthesis"),
]


def load_safety_demo(users: dict, now: datetime) -> None:
    today = clinic_today(now)
    screened_at = now - timedelta(hours=3)  # before the orders; a record's dates are no later than its day
    screened_on = clinic_today(screened_at)  # (in the first hours after midnight, yesterday)
    for index, (mrn, first, last, sex, born, values, exam, reason) in enumerate(CASES):
        if db.session.query(Patient.id).filter_by(mrn=mrn).first():
            continue
        patient = Patient(mrn=mrn, first_name=first, last_name=last, sex=sex, date_of_birth=born)
        db.session.add(patient)
        db.session.flush()
        given = dict(values)
        if "egfr" in given:
            given["egfr"] = {"value": given["egfr"], "measured_on": screened_on - timedelta(days=3 + index)}
        if given.get("pregnancy"):
            given["pregnancy_asked_on"] = screened_on
        given.setdefault("weight_kg", 58 + index * 4)
        record.save(users["technician"], patient, given, now=screened_at)
        visit = Visit(patient_id=patient.id, reason=f"Safety screening demo: {reason}",
                      attending_doctor_id=users["doctor"].id, clinical_notes=reason,
                      visit_date=datetime.combine(today, time(7, 30), clinic_zone()))
        visit.diagnoses.append(Diagnosis(code="R10.9", description="Unspecified abdominal pain", position=0))
        db.session.add(visit)
        db.session.flush()
        modality, body_part, code = exam
        services.create_order(users["doctor"], patient_id=patient.id, visit_id=visit.id, modality=modality,
                              body_part=body_part, procedure_code=code, clinical_indication=reason,
                              now=now - timedelta(hours=2, minutes=index))
    _waiting_patient(users, now)


def _waiting_patient(users: dict, now: datetime) -> None:
    """A patient protocoled, booked and arrived: the tablet and the wall show the wait."""
    mrn = "MRN200009"
    if db.session.query(Patient.id).filter_by(mrn=mrn).first():
        return
    patient = Patient(mrn=mrn, first_name="Tomas", last_name="Novotny", sex="male", date_of_birth=date(1979, 12, 1))
    db.session.add(patient)
    db.session.flush()
    screened_at = now - timedelta(hours=2)
    record.save(users["scheduler"], patient, {"egfr": {"value": 82, "measured_on": clinic_today(screened_at)},
                                              "weight_kg": 84}, now=screened_at)
    visit = Visit(patient_id=patient.id, reason="Follow-up of a renal mass", attending_doctor_id=users["doctor"].id,
                  visit_date=now - timedelta(hours=2))
    db.session.add(visit)
    db.session.flush()
    order = services.create_order(users["doctor"], patient_id=patient.id, visit_id=visit.id, modality="CT",
                                  body_part="ABDOMEN", procedure_code="74177",
                                  clinical_indication="Renal mass follow-up", now=now - timedelta(hours=2))
    services.apply_action(users["radiologist"], order, "protocol",
                          protocol="Renal mass (corticomedullary, nephrographic, excretory)",
                          protocol_notes="Void before the scan.", now=now - timedelta(minutes=90))
    slot = (now + timedelta(minutes=20)).replace(second=0, microsecond=0)
    services.schedule_order(users["scheduler"], order, scheduled_date=slot,
                            now=now - timedelta(minutes=80))
    services.apply_action(users["scheduler"], order, "arrive", now=now - timedelta(minutes=25))
