"""FHIR details the official schema and an EHR rely on (issue 26, item 10).

- An order the EHR placed over HL7 is found by the EHR's own placer number (ORC-2), as
  ``ServiceRequest?identifier=EHR-…``, and carries it as a PLAC identifier.
- No string anywhere is empty: FHIR R4's ``string`` needs at least one non-whitespace character
  (datatypes, "string": ``[ \\r\\n\\t\\S]+``; the official JSON schema refuses ""), which the
  CapabilityStatement's empty ``documentation`` broke.
"""

from __future__ import annotations

from webapp.extensions import db, writing
from webapp.hl7.models import Hl7PlacerOrder


def _empty_strings(value, path="") -> list[str]:
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _empty_strings(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _empty_strings(item, f"{path}[{i}]")]
    return [path] if isinstance(value, str) and not value.strip() else []


def test_an_ehr_finds_its_order_by_its_placer_number(app, make_order, fhir_get):
    order = make_order("reported")
    other = make_order("ordered")
    with app.app_context(), writing():
        db.session.add(Hl7PlacerOrder(order_id=order.id, placer_number="ehr-1001", sending_application="EPIC"))
        db.session.commit()
    bundle = fhir_get("/fhir/R4/ServiceRequest", query_string={"identifier": "EHR-1001"})
    assert [entry.resource.id for entry in bundle.entry] == [str(order.id)]
    identifiers = bundle.entry[0].resource.identifier
    placer = [i for i in identifiers if i.value == "ehr-1001"]
    assert placer and placer[0].type.coding[0].code == "PLAC" and placer[0].assigner.display == "EPIC"
    assert fhir_get("/fhir/R4/ServiceRequest", query_string={"identifier": "EHR-9999"}).total == 0
    assert str(other.id) not in {e.resource.id for e in fhir_get("/fhir/R4/ServiceRequest",
                                                                  query_string={"identifier": "ehr-1001"}).entry}


def test_no_string_served_is_empty(app, make_order, fhir_get):
    order = make_order("reported")
    for path in ("/fhir/R4/metadata", f"/fhir/R4/ServiceRequest/{order.id}", f"/fhir/R4/Patient/{order.patient_id}",
                 f"/fhir/R4/DiagnosticReport/{order.id}", f"/fhir/R4/Encounter/{order.visit_id}",
                 "/fhir/R4/ServiceRequest"):
        fhir_get(path)
        assert _empty_strings(fhir_get.response.get_json()) == [], path
