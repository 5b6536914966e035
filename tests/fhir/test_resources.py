"""Every resource the FHIR API serves parses back with fhir.resources' R4B models and carries
the order's, patient's and visit's data in the elements the mapping names."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.servicerequest import ServiceRequest

from tests.fhir.conftest import parsed
from webapp.extensions import db
from webapp.imaging.models import ImagingOrder

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"


def _order_row(app, order_id):
    with app.app_context():
        order = db.session.get(ImagingOrder, order_id)
        db.session.expunge(order)
        return order


def test_service_request_carries_the_order(app, fhir_get, make_order, make_visit):
    visit = make_visit(diagnoses=(("J18.9", "Pneumonia, unspecified organism"),))
    order = make_order("scheduled", visit=visit, laterality=None, clinical_history="Smoker",
                       diagnosis_id=visit.diagnoses[0].id)
    row = _order_row(app, order.id)
    resource = fhir_get(f"/fhir/R4/ServiceRequest/{order.id}")
    assert isinstance(resource, ServiceRequest)
    assert resource.id == str(order.id)
    [accession, placer] = resource.identifier
    assert (accession.type.coding[0].system, accession.type.coding[0].code) == (V2_0203, "ACSN")
    assert accession.value == order.accession_number and accession.value.startswith("ACC-")
    assert (placer.type.coding[0].code, placer.value) == ("PLAC", order.order_number)
    assert (resource.status, resource.intent, resource.priority) == ("active", "order", "routine")
    assert resource.code.coding[0].system == "http://www.ama-assn.org/go/cpt"
    assert resource.code.coding[0].code == "71046" and resource.code.text
    assert resource.reasonCode[0].coding[0].system == "http://hl7.org/fhir/sid/icd-10"
    assert resource.reasonCode[0].coding[0].code == "J18.9"
    assert resource.subject.reference == f"Patient/{visit.patient_id}"
    assert resource.encounter.reference == f"Encounter/{visit.id}"
    assert resource.occurrenceDateTime == row.scheduled_date.replace(microsecond=resource.occurrenceDateTime.microsecond)
    assert abs((resource.occurrenceDateTime - row.scheduled_date).total_seconds()) < 0.001
    assert abs((resource.authoredOn - row.ordered_date).total_seconds()) < 0.001
    assert resource.requester.display and resource.requester.identifier.value
    assert resource.bodySite[0].coding[0].code == "CHEST"
    assert any("Smoker" in note.text for note in resource.note)
    assert (resource.meta.versionId, abs((resource.meta.lastUpdated - row.updated_at).total_seconds()) < 0.001) == (
        str(row.version), True)
    response = fhir_get.response
    assert response.headers["ETag"] == f'W/"{row.version}"'
    assert response.headers["Last-Modified"]
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(("status", "expected"), [
    ("ordered", "active"), ("scheduled", "active"), ("in_progress", "active"), ("completed", "active"),
    ("reported", "completed"), ("cancelled", "revoked"),
])
@pytest.mark.sqlite_only
def test_service_request_status_mapping(fhir_get, make_order, status, expected):
    order = make_order(status, priority="stat")
    resource = fhir_get(f"/fhir/R4/ServiceRequest/{order.id}")
    assert (resource.status, resource.priority) == (expected, "stat")


@pytest.mark.sqlite_only
def test_an_order_without_a_diagnosis_gives_its_indication_as_the_reason(fhir_get, make_order):
    order = make_order(clinical_indication="Fall from a ladder", procedure_code=None, laterality=None)
    resource = fhir_get(f"/fhir/R4/ServiceRequest/{order.id}")
    assert [r.text for r in resource.reasonCode] == ["Fall from a ladder"]
    assert resource.occurrenceDateTime is None  # not booked yet
    assert resource.code.coding is None and resource.code.text


def test_an_unchanged_resource_answers_304_to_its_etag(fhir_get, client, make_order):
    order = make_order()
    fhir_get(f"/fhir/R4/ServiceRequest/{order.id}")
    etag = fhir_get.response.headers["ETag"]
    headers = {"If-None-Match": etag} | {"Authorization": fhir_get.response.request.headers["Authorization"]}
    assert client.get(f"/fhir/R4/ServiceRequest/{order.id}", headers=headers).status_code == 304
    headers["If-None-Match"] = 'W/"999"'
    assert client.get(f"/fhir/R4/ServiceRequest/{order.id}", headers=headers).status_code == 200


def test_an_unbooked_order_has_no_occurrence(app, fhir_get, client, make_order):
    """ServiceRequest.occurrence[x] ("the date/time at which the requested service should occur",
    FHIR R4 servicerequest.html) is the booked time: gone once unbooked, the request still
    ``active`` (request-status); a client holding the booked version's ETag gets the new one.
    (Guards the FHIR side of tests/hl7/test_booking_taken_back.py: it held before that change.)"""
    from webapp.auth.models import User
    from webapp.extensions import writing
    from webapp.imaging import services

    order = make_order("scheduled")
    booked = fhir_get(f"/fhir/R4/ServiceRequest/{order.id}")
    assert booked.occurrenceDateTime is not None
    etag = fhir_get.response.headers["ETag"]
    with app.app_context(), writing():
        services.apply_action(db.session.get(User, make_order.person("scheduler").id),
                              db.session.get(ImagingOrder, order.id), "unbook", reason="Patient unwell")
        db.session.commit()
    headers = {"If-None-Match": etag, "Authorization": fhir_get.response.request.headers["Authorization"]}
    answer = client.get(f"/fhir/R4/ServiceRequest/{order.id}", headers=headers)
    assert answer.status_code == 200
    resource = parsed(answer)
    assert resource.occurrenceDateTime is None and resource.occurrencePeriod is None
    assert resource.status == "active"
    assert int(resource.meta.versionId) == int(booked.meta.versionId) + 1


def test_patient(fhir_get, make_patient):
    patient = make_patient(first_name="Ada", last_name="Okafor", sex="female", mrn="MRN-7781")
    resource = fhir_get(f"/fhir/R4/Patient/{patient.id}", role="technician")
    assert isinstance(resource, Patient)
    [mrn] = resource.identifier
    assert (mrn.type.coding[0].system, mrn.type.coding[0].code, mrn.value) == (V2_0203, "MR", "MRN-7781")
    assert (resource.name[0].family, resource.name[0].given) == ("Okafor", ["Ada"])
    assert (resource.gender, resource.birthDate.isoformat()) == ("female", "1980-05-17")
    assert fhir_get.response.headers["ETag"] == 'W/"1"'


def test_encounter(fhir_get, make_visit):
    visit = make_visit(diagnoses=(("J18.9", "Pneumonia"), ("R05", "Cough")), reason="Cough and fever")
    resource = fhir_get(f"/fhir/R4/Encounter/{visit.id}")
    assert isinstance(resource, Encounter)
    assert (resource.class_fhir.system, resource.class_fhir.code) == (
        "http://terminology.hl7.org/CodeSystem/v3-ActCode", "AMB")
    assert resource.status == "finished"
    assert resource.subject.reference == f"Patient/{visit.patient_id}"
    assert [c.coding[0].code for c in resource.reasonCode if c.coding] == ["J18.9", "R05"]
    assert resource.reasonCode[-1].text == "Cough and fever"
    assert abs((resource.period.start - visit.visit_date).total_seconds()) < 0.001


def test_diagnostic_report_of_a_reported_order(app, fhir_get, make_order):
    order = make_order("reported")
    row = _order_row(app, order.id)
    resource = fhir_get(f"/fhir/R4/DiagnosticReport/{order.id}", role="radiologist")
    assert isinstance(resource, DiagnosticReport)
    assert resource.basedOn[0].reference == f"ServiceRequest/{order.id}"
    assert (resource.status, resource.conclusion) == ("final", "Normal.")
    assert abs((resource.issued - row.reported_date).total_seconds()) < 0.001
    assert resource.resultsInterpreter[0].display
    assert resource.code.coding[0].system == "http://loinc.org"
    text = resource.presentedForm[0].data.decode()  # the model decodes base64Binary
    assert base64.b64decode(fhir_get.response.get_json()["presentedForm"][0]["data"]).decode() == text
    assert "Clear lungs." in text and "Normal." in text
    assert resource.subject.reference == f"Patient/{order.patient_id}"


def test_an_addendum_makes_the_report_appended_and_is_in_it(app, fhir_get, make_order):
    """Issue 26 item 1. DiagnosticReport.status, FHIR R4 value set diagnostic-report-status:
    "appended: subsequent to being final, the report has been modified by adding new content"."""
    from webapp.auth.models import User
    from webapp.extensions import db, writing
    from webapp.imaging.models import ImagingOrder
    from webapp.reporting import services

    order = make_order("reported")
    with app.app_context(), writing():
        saved = db.session.get(ImagingOrder, order.id)
        radiologist = db.session.get(User, saved.reporting_radiologist)
        services.add_addendum(radiologist, saved, "Small effusion too.", critical_flag=True,
                              critical_note="Tension pneumothorax")
        db.session.commit()
    resource = fhir_get(f"/fhir/R4/DiagnosticReport/{order.id}", role="radiologist")
    assert resource.status == "appended"
    text = resource.presentedForm[0].data.decode()
    assert "ADDENDUM" in text and "Small effusion too." in text and "Tension pneumothorax" in text


@pytest.mark.sqlite_only
def test_an_order_not_yet_reported_has_no_report(fhir_get, make_order):
    order = make_order("completed")
    fhir_get(f"/fhir/R4/DiagnosticReport/{order.id}", status=404)


@pytest.mark.sqlite_only
def test_metadata_lists_exactly_what_is_served(app, client):
    response = client.get("/fhir/R4/metadata")  # no token: the statement holds no patient data
    assert response.status_code == 200
    statement = parsed(response)
    assert isinstance(statement, CapabilityStatement)
    assert statement.fhirVersion == "4.0.1" and statement.kind == "instance"
    [rest] = statement.rest
    served = {r.type: r for r in rest.resource}
    assert set(served) == {"ServiceRequest", "Patient", "Encounter", "DiagnosticReport", "ImagingStudy"}
    assert {p.name for p in served["ServiceRequest"].searchParam} == {
        "identifier", "patient", "status", "_lastUpdated", "_count", "_cursor"}
    assert {p.name for p in served["DiagnosticReport"].searchParam} >= {"based-on", "patient"}
    for resource in rest.resource:
        assert {i.code for i in resource.interaction} <= {"read", "search-type"}  # read-only
    # Every interaction it lists answers (not 404/405) on this server.
    routes = {rule.rule for rule in app.url_map.iter_rules()}
    for name, resource in served.items():
        codes = {i.code for i in resource.interaction}
        assert ("read" in codes) == (f"/fhir/R4/{name}/<string(maxlength=64):id>" in routes)
        assert ("search-type" in codes) == (f"/fhir/R4/{name}" in routes)


def test_served_instants_are_utc(fhir_get, make_order):
    order = make_order()
    resource = fhir_get(f"/fhir/R4/ServiceRequest/{order.id}")
    assert resource.authoredOn.utcoffset() == datetime.now(UTC).utcoffset()
