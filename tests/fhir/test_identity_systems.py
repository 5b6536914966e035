"""Issue 21, defect 9: FHIR identifier systems were made-up URNs, a media-type parameter on
Accept (``charset=utf-8``, ``fhirVersion=4.0``) answered 406, and there was no Patient search.

FHIR R4: Identifier.system is a uri (datatypes.html#Identifier; an OID as ``urn:oid:``),
token search ``[system]|[code]`` (search.html#token), the MIME type and its ``fhirVersion``
parameter (http.html#mime-type, http.html#version-parameter; R4 is ``4.0``).
Answers are parsed with fhir.resources (conftest.parsed).
"""

from __future__ import annotations

import pytest

from tests.access_log import last_id, reads
from webapp.config import Config

DEFAULT_MRN = "https://imaging-orders.example.org/fhir/sid/mrn"
DEFAULT_ACCESSION = "https://imaging-orders.example.org/fhir/sid/accession-number"
DEFAULT_ORDER = "https://imaging-orders.example.org/fhir/sid/order-number"


def _identifiers(resource) -> dict[str, str]:
    return {identifier.system: identifier.value for identifier in resource.identifier}


def test_every_identifier_uses_the_configured_systems_by_default(fhir_get, make_order):
    order = make_order("reported")
    patient = fhir_get(f"/fhir/R4/Patient/{order.patient_id}")
    assert _identifiers(patient) == {DEFAULT_MRN: order.patient.mrn}
    request = fhir_get(f"/fhir/R4/ServiceRequest/{order.id}")
    assert _identifiers(request) == {DEFAULT_ACCESSION: order.accession_number, DEFAULT_ORDER: order.order_number}
    assert not any(i.system.startswith("urn:imaging-orders") for i in request.identifier)
    found = fhir_get("/fhir/R4/ServiceRequest", query_string={"identifier": f"{DEFAULT_ACCESSION}|{order.accession_number}"})
    assert found.total == 1


CONFIGURED = {"FHIR_MRN_SYSTEM": "urn:oid:2.16.840.1.113883.19.5.99",
              "FHIR_ACCESSION_SYSTEM": "http://hospital.example.net/accession",
              "FHIR_ORDER_SYSTEM": "urn:oid:2.16.840.1.113883.19.5.100"}


def test_configured_systems_are_served_and_searched(app, fhir_get, make_order):
    app.config.update(CONFIGURED)
    app_config = CONFIGURED
    order = make_order("ordered")
    assert _identifiers(fhir_get(f"/fhir/R4/Patient/{order.patient_id}")) == {
        app_config["FHIR_MRN_SYSTEM"]: order.patient.mrn}
    request = fhir_get(f"/fhir/R4/ServiceRequest/{order.id}")
    assert set(_identifiers(request)) == {app_config["FHIR_ACCESSION_SYSTEM"], app_config["FHIR_ORDER_SYSTEM"]}
    for system, value, total in ((app_config["FHIR_ORDER_SYSTEM"], order.order_number, 1),
                                 (app_config["FHIR_ACCESSION_SYSTEM"], order.accession_number, 1),
                                 (DEFAULT_ACCESSION, order.accession_number, 0)):
        assert fhir_get("/fhir/R4/ServiceRequest", query_string={"identifier": f"{system}|{value}"}).total == total
    mrn = f"{app_config['FHIR_MRN_SYSTEM']}|{order.patient.mrn}"
    by_mrn = fhir_get("/fhir/R4/Patient", query_string={"identifier": mrn})
    assert by_mrn.total == 1


@pytest.mark.parametrize("value", ["urn:imaging-orders:mrn", "not a uri", "ftp://x.example/mrn", "urn:oid:3.1",
                                   "urn:oid:1.2.03", "https:///no-host", "https://x.example/a|b", "/relative/mrn"])
def test_a_system_that_is_no_uri_stops_the_start(monkeypatch, tmp_path, value):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("FHIR_MRN_SYSTEM", value)
    with pytest.raises(ValueError, match="^FHIR_MRN_SYSTEM must be an absolute http"):
        Config()


def test_uris_and_oids_are_taken(monkeypatch, tmp_path):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("FHIR_MRN_SYSTEM", "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14")
    monkeypatch.setenv("FHIR_ACCESSION_SYSTEM", "https://fhir.hospital.example/sid/acc")
    monkeypatch.setenv("FHIR_ORDER_SYSTEM", "urn:uuid:6c5b1f8e-2a8d-4d34-9c33-0d4b1f1e2a77")
    config = Config()
    assert config.FHIR_MRN_SYSTEM == "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14"
    assert config.FHIR_ORDER_SYSTEM.startswith("urn:uuid:")


def test_patient_search_by_identifier(app, client, bearer, fhir_get, make_patient):
    """Defect 9: GET /fhir/R4/Patient?identifier= (failed before: 405, no Patient search)."""
    maria = make_patient(mrn="FHIRMRN1", last_name="Müller")
    make_patient(mrn="FHIRMRN2")
    before = last_id(app)
    for query in ("FHIRMRN1", "fhirmrn1", f"{DEFAULT_MRN}|FHIRMRN1", "FHIRMRN1,NOBODY"):
        bundle = fhir_get("/fhir/R4/Patient", query_string={"identifier": query}, role="scheduler")
        assert (bundle.type, bundle.total) == ("searchset", 1), query
        assert bundle.entry[0].resource.id == str(maria.id) and bundle.entry[0].search.mode == "match"
        assert bundle.entry[0].fullUrl.endswith(f"/fhir/R4/Patient/{maria.id}")
    rows = reads(app, before)
    assert len(rows) == 4 and all(r.patients == frozenset({maria.id}) for r in rows)
    assert rows[0].what == "FHIR Patient search"
    assert fhir_get("/fhir/R4/Patient", query_string={"identifier": "FHIRMRN1,FHIRMRN2"}).total == 2
    for query in ("urn:other|FHIRMRN1", "|FHIRMRN1", "NOBODY"):
        assert fhir_get("/fhir/R4/Patient", query_string={"identifier": query}).total == 0, query
    paged = fhir_get("/fhir/R4/Patient", query_string={"identifier": "FHIRMRN1,FHIRMRN2", "_count": "1"})
    assert paged.total == 2 and len(paged.entry) == 1 and any(link.relation == "next" for link in paged.link)

    missing = fhir_get("/fhir/R4/Patient", status=400)
    assert missing.get_resource_type() == "OperationOutcome" and "identifier" in missing.issue[0].diagnostics
    assert fhir_get("/fhir/R4/Patient", query_string={"name": "x", "identifier": "a"}, status=400).issue
    assert fhir_get("/fhir/R4/Patient", query_string={"identifier": "a"}, role="display", status=403).issue
    assert client.get("/fhir/R4/Patient?identifier=FHIRMRN1").status_code == 401
    statement = fhir_get("/fhir/R4/metadata")
    patient = next(r for r in statement.rest[0].resource if r.type == "Patient")
    assert [p.name for p in patient.searchParam][:1] == ["identifier"]


@pytest.mark.parametrize("accept", [
    "application/fhir+json; charset=utf-8", "application/fhir+json; fhirVersion=4.0",
    "application/fhir+json;fhirVersion=4.0;charset=UTF-8", "application/json; charset=utf-8",
    'application/fhir+json; charset="utf-8"', "text/html, application/fhir+json;q=0.5", "*/*",
])
def test_media_type_parameters_are_accepted_on_accept(fhir_get, make_patient, accept):
    """Defect 9: these answered 406 before."""
    patient = make_patient()
    assert fhir_get(f"/fhir/R4/Patient/{patient.id}", headers={"Accept": accept}).id == str(patient.id)


@pytest.mark.parametrize("fmt", ["application/fhir+json;fhirVersion=4.0", "application/fhir json; charset=utf-8",
                                 "json", "application/json;fhirVersion=4.0"])
def test_media_type_parameters_are_accepted_on_format(fhir_get, make_patient, fmt):
    patient = make_patient()
    assert fhir_get(f"/fhir/R4/Patient/{patient.id}", query_string={"_format": fmt}).id == str(patient.id)


@pytest.mark.parametrize("accept, why", [
    ("application/fhir+json; fhirVersion=3.0", "fhirVersion 3.0"),
    ("application/fhir+json; fhirVersion=5.0, application/json; fhirVersion=1.0", "fhirVersion 5.0"),
    ("application/fhir+json; charset=iso-8859-1", "charset iso-8859-1"),
    ("application/fhir+xml", "Only FHIR R4 JSON"),
    ("application/fhir+json; q=0", "Only FHIR R4 JSON"),
])
def test_what_cannot_be_served_is_406(fhir_get, make_patient, accept, why):
    patient = make_patient()
    outcome = fhir_get(f"/fhir/R4/Patient/{patient.id}", headers={"Accept": accept}, status=406)
    assert outcome.get_resource_type() == "OperationOutcome" and why in outcome.issue[0].diagnostics


@pytest.mark.parametrize("fmt", ["application/fhir+json;fhirVersion=3.0", "xml", "application/fhir+json;charset=latin1"])
def test_an_unsupported_format_is_406(fhir_get, make_patient, fmt):
    patient = make_patient()
    outcome = fhir_get(f"/fhir/R4/Patient/{patient.id}", query_string={"_format": fmt}, status=406)
    assert outcome.issue[0].expression == ["_format"]
