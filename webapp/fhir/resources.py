"""The app's records as FHIR resources, each built as JSON and validated with fhir.resources'
R4B models (a resource that would not parse raises here, not in a client).

An imaging order is a ServiceRequest (and, once reported, a DiagnosticReport of the same id);
a patient a Patient; a visit an Encounter. See docs/fhir.md for the mapping tables.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from webapp.db_types import utcnow
from webapp.extensions import db
from webapp.fhir import codes
from webapp.hl7.models import Hl7PlacerOrder
from webapp.imaging.models import ImagingOrder
from webapp.patients.models import Patient
from webapp.visits.models import Diagnosis, Visit


@dataclass(frozen=True)
class Validated:
    """A resource as served (``data``: the JSON built here, sent as it is) and as fhir.resources'
    R4B model parsed it (``model``): what is sent is exactly what was validated, without paying
    for the model's own (slow) serialisation."""

    model: Any
    data: dict

    @property
    def id(self) -> str | None:
        return self.data.get("id")


def validated(model_class, data: dict) -> Validated:
    """Parse ``data`` with the R4B model (raising if it is not a valid resource)."""
    return Validated(model_class.model_validate(data), data)


def instant(value: datetime | None) -> str | None:
    """An aware datetime as a FHIR instant/dateTime (UTC, to the millisecond)."""
    return value.isoformat(timespec="milliseconds") if value is not None else None


def meta(version: int, last_updated: datetime) -> dict:
    return {"versionId": str(version), "lastUpdated": instant(last_updated)}


def reference(resource_type: str, key: Any, display: str | None = None) -> dict:
    ref = {"reference": f"{resource_type}/{key}"}
    if display:
        ref["display"] = display
    return ref


def person(user) -> dict | None:
    """A member of staff: their username as an identifier and their name (no Practitioner is served)."""
    if user is None:
        return None
    return {"identifier": {"system": codes.USER_SYSTEM, "value": user.username}, "display": user.display_name}


def _clean(data: dict) -> dict:
    """Leave out empty elements (FHIR allows no nulls, empty strings or empty lists)."""
    return {key: value for key, value in data.items() if value not in (None, "", [], {})}


def diagnosis_concept(diagnosis: Diagnosis) -> dict:
    return {"coding": [{"system": codes.ICD10, "code": diagnosis.code, "display": diagnosis.description}],
            "text": diagnosis.description}


# ---------------------------------------------------------------------------- ServiceRequest


def order_identifiers(order: ImagingOrder) -> list[dict]:
    """The accession number, our order number and, for an order an EHR placed over HL7, the EHR's
    own placer number (ORC-2), so the EHR finds the order by the number it gave it."""
    identifiers = [
        {"use": "official", "type": codes.ACCESSION_TYPE, "system": codes.accession_system(),
         "value": order.accession_number},
        {"use": "usual", "type": codes.PLACER_TYPE, "system": codes.order_system(), "value": order.order_number},
    ]
    placer = db.session.get(Hl7PlacerOrder, order.id)
    if placer is not None:
        identifiers.append({"use": "secondary", "type": codes.PLACER_TYPE, "value": placer.placer_number,
                            "assigner": {"display": placer.sending_application or "the EHR"}})
    return identifiers


def procedure_concept(order: ImagingOrder) -> dict:
    concept: dict = {"text": order.description}
    if order.procedure_code:
        concept["coding"] = [_clean({"system": codes.CPT, "code": order.procedure_code,
                                     "display": order.procedure_name})]
    return concept


def body_site(order: ImagingOrder) -> dict:
    name = order.body_part_ref.name
    return {"coding": [{"system": codes.BODY_PART_SYSTEM, "code": order.body_part, "display": name}],
            "text": f"{name} ({order.laterality})" if order.laterality else name}


def _notes(order: ImagingOrder) -> list[dict]:
    labelled = (("Clinical indication", order.clinical_indication), ("Clinical history", order.clinical_history),
                ("Special instructions", order.special_instructions), ("Cancelled", order.cancellation_reason))
    return [{"text": f"{label}: {text}"} for label, text in labelled if text]


def service_request_json(order: ImagingOrder) -> dict:
    reason = [diagnosis_concept(order.diagnosis)] if order.diagnosis else [{"text": order.clinical_indication}]
    return _clean({
        "resourceType": "ServiceRequest",
        "id": str(order.id),
        "meta": meta(order.version, order.updated_at),
        "identifier": order_identifiers(order),
        "status": codes.SERVICE_REQUEST_STATUS[order.status],
        "intent": "order",
        "category": [codes.IMAGING_CATEGORY],
        "priority": codes.PRIORITY[order.priority],
        "code": procedure_concept(order),
        "orderDetail": [{"coding": [{"system": codes.MODALITY_SYSTEM, "code": order.modality,
                                     "display": order.modality_ref.name}], "text": order.modality_ref.name}],
        "subject": reference("Patient", order.patient_id, order.patient.full_name),
        "encounter": reference("Encounter", order.visit_id),
        "occurrenceDateTime": instant(order.scheduled_date),
        "authoredOn": instant(order.ordered_date),
        "requester": person(order.ordering_doctor),
        "reasonCode": reason,
        "bodySite": [body_site(order)],
        "note": _notes(order),
    })


def service_request(order: ImagingOrder):
    from fhir.resources.R4B.servicerequest import ServiceRequest

    return validated(ServiceRequest, service_request_json(order))


# ---------------------------------------------------------------------------- DiagnosticReport


def report_status(order: ImagingOrder) -> str:
    """DiagnosticReport.status (FHIR R4 value set diagnostic-report-status,
    http://hl7.org/fhir/R4/valueset-diagnostic-report-status.html): ``final`` once signed,
    ``appended`` once an addendum is under it ("subsequent to being final, the report has been
    modified by adding new content; the existing content is unchanged")."""
    if order.status != "reported":
        return "preliminary"  # a trainee's report awaiting co-signature (webapp.reporting.cosign)
    return "appended" if order.addenda else "final"


def report_text(order: ImagingOrder) -> str:
    parts = [order.report_text, order.findings and f"FINDINGS:\n{order.findings}",
             order.impression and f"IMPRESSION:\n{order.impression}"]
    parts += [f"ADDENDUM ({a.author_label}, {instant(a.created_at)}):\n{a.text}" for a in order.addenda]
    parts += [f"CRITICAL FINDING ({c.raised_by_label}, {instant(c.raised_at)}): {c.note}" for c in order.critical_results]
    return "\n\n".join(part for part in parts if part)


def diagnostic_report_json(order: ImagingOrder) -> dict:
    text = report_text(order)
    form = {"contentType": "text/plain; charset=utf-8", "language": "en", "title": "Radiology report",
            "data": base64.b64encode(text.encode()).decode(), "creation": instant(order.reported_date)}
    return _clean({
        "resourceType": "DiagnosticReport",
        "id": str(order.id),
        "meta": meta(order.version, order.updated_at),
        "identifier": order_identifiers(order)[:1],
        "basedOn": [reference("ServiceRequest", order.id)],
        "status": report_status(order),
        "category": [codes.RADIOLOGY_CATEGORY],
        "code": {"coding": [codes.IMAGING_REPORT_CODE], "text": order.description},
        "subject": reference("Patient", order.patient_id, order.patient.full_name),
        "encounter": reference("Encounter", order.visit_id),
        "effectiveDateTime": instant(order.performed_date),
        "issued": instant(order.reported_date or (order.report_details.preliminary_at if order.report_details else None)),
        "resultsInterpreter": [p for p in (person(order.radiologist),) if p],
        "conclusion": order.impression,
        "presentedForm": [form] if text else [],
        **_coded_results(order),
    })


# The coding systems of MRRT codes, as FHIR system URIs.
CODE_SYSTEMS = {"RADLEX": "http://radlex.org", "LOINC": "http://loinc.org", "SNOMEDCT": "http://snomed.info/sct"}


def _coding(code: dict) -> dict:
    system = CODE_SYSTEMS.get((code.get("scheme") or "").upper().replace("-", ""), "urn:imaging-orders:local")
    return _clean({"system": system, "code": code["code"], "display": code.get("meaning") or None})


def _coded_results(order: ImagingOrder) -> dict:
    """A structured (MRRT) template's coded answers as contained Observations, referenced from
    ``DiagnosticReport.result``: code the field, ``valueCodeableConcept`` the answer."""
    from webapp.reporting import mrrt
    from webapp.reporting.models import ReportTemplate

    details = order.report_details
    if details is None or not details.field_values or not details.template_code:
        return {}
    template = db.session.get(ReportTemplate, details.template_code)
    answers = mrrt.coded_answers(template.structure if template else None, details.field_values)
    if not answers:
        return {}
    status = report_status(order)
    observations = [_clean({
        "resourceType": "Observation", "id": f"answer-{index}",
        "status": "final" if status in ("final", "appended") else "preliminary",
        "code": ({"coding": [_coding(a["field_code"])], "text": a["label"]} if a.get("field_code")
                 else {"text": a["label"]}),
        "subject": reference("Patient", order.patient_id),
        "valueCodeableConcept": {"coding": [_coding(a["code"])], "text": a["answer"]},
    }) for index, a in enumerate(answers, start=1)]
    return {"contained": observations, "result": [{"reference": f"#{o['id']}"} for o in observations]}


def diagnostic_report(order: ImagingOrder):
    from fhir.resources.R4B.diagnosticreport import DiagnosticReport

    return validated(DiagnosticReport, diagnostic_report_json(order))


# ---------------------------------------------------------------------------- Patient and Encounter


def patient_json(patient: Patient) -> dict:
    return {
        "resourceType": "Patient",
        "id": str(patient.id),
        # Patients are registered once and never changed: version 1, last updated when registered.
        "meta": meta(1, patient.created_at),
        "identifier": [{"use": "usual", "type": codes.MRN_TYPE, "system": codes.mrn_system(), "value": patient.mrn}],
        "active": True,
        "name": [{"use": "official", "family": patient.last_name, "given": [patient.first_name],
                  "text": patient.full_name}],
        "gender": codes.GENDER[patient.sex],
        "birthDate": patient.date_of_birth.isoformat(),
    }


def patient_resource(patient: Patient):
    from fhir.resources.R4B.patient import Patient as FhirPatient

    return validated(FhirPatient, patient_json(patient))


def encounter_json(visit: Visit) -> dict:
    reasons = [diagnosis_concept(d) for d in visit.diagnoses] + [{"text": visit.reason}]
    doctor = person(visit.attending_doctor)
    return _clean({
        "resourceType": "Encounter",
        "id": str(visit.id),
        # Visits are opened once and never changed.
        "meta": meta(1, visit.created_at),
        "status": "finished" if visit.visit_date <= utcnow() else "planned",
        "class": codes.AMBULATORY,
        "subject": reference("Patient", visit.patient_id, visit.patient.full_name),
        "participant": [{"individual": doctor}] if doctor else [],
        "period": {"start": instant(visit.visit_date)},
        "reasonCode": reasons,
    })


def encounter(visit: Visit):
    from fhir.resources.R4B.encounter import Encounter

    return validated(Encounter, encounter_json(visit))
