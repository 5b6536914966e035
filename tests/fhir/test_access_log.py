"""Every FHIR answer that shows a patient's data writes one access-log row naming the patients
it showed (webapp.audit.record_read), like the JSON API's reads."""

from __future__ import annotations

from tests.access_log import clinic, last_id, reads


def test_reads_are_logged_with_their_patient(app, fhir_get, bearer, make_patient, make_visit, make_order):
    town = clinic(make_patient, make_visit, make_order, status="reported")
    order = town.orders[town.bertil.id][0]
    before = last_id(app)
    fhir_get(f"/fhir/R4/ServiceRequest/{order.id}", role="scheduler")
    fhir_get(f"/fhir/R4/DiagnosticReport/{order.id}", role="scheduler")
    fhir_get(f"/fhir/R4/Patient/{town.bertil.id}", role="scheduler")
    fhir_get(f"/fhir/R4/Encounter/{order.visit_id}", role="scheduler")
    rows = reads(app, before)
    assert [r.patients for r in rows] == [frozenset({town.bertil.id})] * 4
    assert [r.what.split(" ")[:2] for r in rows] == [["FHIR", "ServiceRequest"], ["FHIR", "DiagnosticReport"],
                                                      ["FHIR", "Patient"], ["FHIR", "Encounter"]]
    assert rows[0].what == f"FHIR ServiceRequest {order.accession_number}"
    assert {r.user_role for r in rows} == {"scheduler"}
    assert rows[0].request_path == f"GET /fhir/R4/ServiceRequest/{order.id}"


def test_searches_log_each_page_with_its_patients(app, fhir_get, make_patient, make_visit, make_order):
    town = clinic(make_patient, make_visit, make_order, status="reported")
    before = last_id(app)
    path, pages = "/fhir/R4/ServiceRequest?_count=3", []
    while path:
        bundle = fhir_get(path)
        pages.append({e.resource.subject.reference.split("/")[1] for e in bundle.entry})
        nxt = [link.url for link in bundle.link if link.relation == "next"]
        path = nxt and "/fhir/R4/" + nxt[0].split("/fhir/R4/", 1)[1]
    rows = reads(app, before)
    assert len(rows) == len(pages) == 2
    assert [{str(p) for p in r.patients} for r in rows] == pages
    assert set().union(*pages) == {str(p.id) for p in (town.anna, town.bertil, town.okafor)}
    before = last_id(app)
    fhir_get(f"/fhir/R4/DiagnosticReport?patient=Patient/{town.okafor.id}")
    [row] = reads(app, before)
    assert (row.what, row.patients) == ("FHIR DiagnosticReport search", frozenset({town.okafor.id}))


def test_a_patient_search_that_finds_nothing_still_names_the_patient(app, fhir_get, make_patient):
    patient = make_patient()
    before = last_id(app)
    bundle = fhir_get(f"/fhir/R4/ServiceRequest?patient={patient.id}")
    assert bundle.total == 0
    [row] = reads(app, before)
    assert row.patients == {patient.id}


def test_nothing_shown_nothing_logged(app, client, bearer, fhir_get, make_order):
    order = make_order()
    before = last_id(app)
    fhir_get("/fhir/R4/ServiceRequest?identifier=ACC-1999-00001")
    fhir_get("/fhir/R4/metadata")
    fhir_get("/fhir/R4/ServiceRequest/00000000-0000-0000-0000-000000000000", status=404)
    assert client.get(f"/fhir/R4/ServiceRequest/{order.id}", headers=bearer("display")).status_code == 403
    assert reads(app, before) == []
