"""The registration pages (issue 21, defect 7: patients and visits could only be made through the
API): /patients/new and /patients/{id}/visits/new, through the API's own schemas and services."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from tests.pages.conftest import hx
from webapp.extensions import db
from webapp.patients.models import Patient
from webapp.visits.models import Visit

NEW = {"mrn": "REG-0001", "last_name": "Ångström", "first_name": "Zoë", "date_of_birth": "1975-04-02", "sex": "female"}


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_register_a_patient_from_the_search_page(app, client, auth):
    """Defect 7: a scheduler registers a patient on a page (failed before: no such page, 404)."""
    auth.login("scheduler")
    search = client.get("/patients").text
    assert 'href="/patients/new"' in search and "Register a patient" in search
    form = client.get("/patients/new")
    assert form.status_code == 200 and 'id="patient-form"' in form.text and 'name="csrf_token"' in form.text

    done = client.post("/patients/new", data=NEW)
    assert done.status_code == 303
    with app.app_context():
        patient = db.session.scalar(select(Patient).where(Patient.mrn == "REG-0001"))
        assert (patient.last_name, patient.first_name, patient.date_of_birth, patient.sex) == (
            "Ångström", "Zoë", date(1975, 4, 2), "female")
    assert done.headers["Location"].endswith(f"/patients/{patient.id}")
    page = client.get(done.headers["Location"]).text
    assert "Zoë Ångström is registered (MRN REG-0001)." in page


def test_the_same_name_and_birth_date_warns_before_a_second_record(app, client, auth, make_patient):
    """Same family and given name (folded: no accents, no case) and birth date: a warning naming
    the existing record; only an explicit confirmation registers a second patient."""
    existing = make_patient(mrn="REG-OLD", last_name="Angstrom", first_name="ZOE", date_of_birth=date(1975, 4, 2))
    auth.login("doctor")
    before = _count(app, Patient)
    warned = client.post("/patients/new", data=NEW, headers=hx("patient-form-panel"))
    assert warned.status_code == 409
    assert 'id="possible-duplicates"' in warned.text and "REG-OLD" in warned.text
    assert f'href="/patients/{existing.id}"' in warned.text and 'name="confirm_new_person"' in warned.text
    assert _count(app, Patient) == before

    confirmed = client.post("/patients/new", data=NEW | {"confirm_new_person": "yes"}, headers=hx("patient-form-panel"))
    assert confirmed.status_code == 200 and confirmed.headers["HX-Redirect"].startswith("/patients/")
    assert _count(app, Patient) == before + 1


def test_a_duplicate_mrn_and_bad_fields_are_refused_clearly(app, client, auth, make_patient):
    existing = make_patient(mrn="REG-TAKEN")
    auth.login("admin")
    before = _count(app, Patient)
    taken = client.post("/patients/new", data=NEW | {"mrn": "REG-TAKEN", "last_name": "Other"})
    assert taken.status_code == 409
    assert "A patient with MRN REG-TAKEN exists already." in taken.text
    assert f'href="/patients/{existing.id}"' in taken.text
    bad = client.post("/patients/new", data=NEW | {"mrn": "no spaces allowed", "date_of_birth": "2999-01-01",
                                                   "sex": "", "last_name": ""})
    assert bad.status_code == 422
    assert "Letters, digits and dashes" in bad.text and "A past date after 1880." in bad.text
    assert bad.text.count("Required.") == 2  # family name and sex
    assert 'value="no spaces allowed"' in bad.text  # what was typed is kept
    assert _count(app, Patient) == before


def test_open_a_visit_with_its_diagnoses(app, client, auth, make_patient):
    """A visit with diagnoses in order (the first primary), as POST /api/v1/visits takes them."""
    patient = make_patient()
    auth.login("doctor")
    page = client.get(f"/patients/{patient.id}").text
    assert f'href="/patients/{patient.id}/visits/new"' in page
    form = client.get(f"/patients/{patient.id}/visits/new")
    assert form.status_code == 200 and form.text.count('name="diagnosis_code"') == 3

    more = client.post(f"/patients/{patient.id}/visits/new", data={"reason": "Cough", "more_rows": "1",
                                                                  "diagnosis_code": ["J18.9"] * 3,
                                                                  "diagnosis_description": ["Pneumonia", "", ""]})
    assert more.status_code == 200 and more.text.count('name="diagnosis_code"') == 6 and _count(app, Visit) == 0

    missing = client.post(f"/patients/{patient.id}/visits/new", data={
        "reason": "", "visit_date": "2026-12-07T09:30",
        "diagnosis_code": ["J18.9", "R05", ""], "diagnosis_description": ["Pneumonia", "", ""]})
    assert missing.status_code == 422 and _count(app, Visit) == 0
    assert 'id="diagnosis-description-1-error"' in missing.text and 'id="field-reason-error"' in missing.text

    done = client.post(f"/patients/{patient.id}/visits/new", data={
        "reason": "Cough and fever", "visit_date": "2026-12-07T09:30", "clinical_notes": "Three days.",
        "diagnosis_code": ["J18.9", "", "R50.9"], "diagnosis_description": ["Pneumonia", "", "Fever"]})
    assert done.status_code == 303
    with app.app_context():
        visit = db.session.scalar(select(Visit).where(Visit.patient_id == patient.id))
        assert (visit.reason, visit.clinical_notes) == ("Cough and fever", "Three days.")
        assert [(d.code, d.description) for d in visit.diagnoses] == [("J18.9", "Pneumonia"), ("R50.9", "Fever")]
    assert done.headers["Location"].endswith(f"/visits/{visit.id}")
    shown = client.get(done.headers["Location"]).text
    assert "Visit opened for" in shown and "J18.9" in shown


def test_who_may_register_and_open_visits(client, auth, make_patient):
    """The access matrix rows (docs/security.md): registering as the API's POST /patients,
    visits as POST /visits; an unknown patient is 404."""
    patient = make_patient()
    for role, register, visit in (("doctor", 200, 200), ("scheduler", 200, 403), ("admin", 200, 200),
                                  ("technician", 403, 403), ("radiologist", 403, 403), ("display", 403, 403)):
        auth.login(role)
        assert client.get("/patients/new").status_code == register, role
        assert client.get(f"/patients/{patient.id}/visits/new").status_code == visit, role
        assert client.post("/patients/new", data=NEW | {"mrn": f"X-{role}", "last_name": role}).status_code in (
            (303,) if register == 200 else (403,)), role
    auth.login("doctor")
    assert client.get("/patients/00000000-0000-4000-8000-000000000000/visits/new").status_code == 404
