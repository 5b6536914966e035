"""The code systems and value mappings of the FHIR API: one table per mapping, read by the
resource builders, the searches and the CapabilityStatement alike."""

from __future__ import annotations

from flask import current_app

FHIR_JSON = "application/fhir+json"
# What is served: R4 (4.0.1) JSON. The resources are validated with fhir.resources' R4B models,
# which for every resource served here (and Bundle, OperationOutcome, CapabilityStatement) have
# the R4 elements.
FHIR_VERSION = "4.0.1"
BASE_PATH = "/fhir/R4"



# Identifier systems of our numbers: settings (FHIR_MRN_SYSTEM, FHIR_ACCESSION_SYSTEM,
# FHIR_ORDER_SYSTEM; webapp.config checks each is a URI or urn:oid: at start-up), read per request.
def mrn_system() -> str:
    return current_app.config["FHIR_MRN_SYSTEM"]


def accession_system() -> str:
    return current_app.config["FHIR_ACCESSION_SYSTEM"]


def order_system() -> str:
    return current_app.config["FHIR_ORDER_SYSTEM"]


# The users' usernames (a Practitioner reference's identifier); code systems of our own codes.
USER_SYSTEM = "https://imaging-orders.example.org/fhir/sid/username"
BODY_PART_SYSTEM = "urn:imaging-orders:body-part"
MODALITY_SYSTEM = "urn:imaging-orders:modality"

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"  # identifier types
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"  # diagnostic service sections
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CPT = "http://www.ama-assn.org/go/cpt"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
DICOM_UID = "urn:dicom:uid"

ACCESSION_TYPE = {"coding": [{"system": V2_0203, "code": "ACSN", "display": "Accession ID"}]}
PLACER_TYPE = {"coding": [{"system": V2_0203, "code": "PLAC", "display": "Placer Identifier"}]}
MRN_TYPE = {"coding": [{"system": V2_0203, "code": "MR", "display": "Medical record number"}]}
IMAGING_CATEGORY = {"coding": [{"system": SNOMED, "code": "363679005", "display": "Imaging"}], "text": "Imaging"}
RADIOLOGY_CATEGORY = {"coding": [{"system": V2_0074, "code": "RAD", "display": "Radiology"}]}
IMAGING_REPORT_CODE = {"system": LOINC, "code": "18748-4", "display": "Diagnostic imaging study"}
AMBULATORY = {"system": V3_ACT_CODE, "code": "AMB", "display": "ambulatory"}

# An order's status as a ServiceRequest.status (request-status). Every step up to the report
# is the request still being acted on; the signed report completes it; a cancel revokes it.
SERVICE_REQUEST_STATUS = {
    "ordered": "active",
    "scheduled": "active",
    "in_progress": "active",
    "completed": "active",
    "reported": "completed",
    "cancelled": "revoked",
}
# request-status codes a search may name (codes no order maps to match nothing).
REQUEST_STATUS_CODES = ("draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown")


def order_statuses(fhir_status: str) -> list[str]:
    """The order statuses a ServiceRequest status stands for."""
    return [status for status, mapped in SERVICE_REQUEST_STATUS.items() if mapped == fhir_status]


# request-priority has routine | urgent | asap | stat: the order's three are among them.
PRIORITY = {"routine": "routine", "urgent": "urgent", "stat": "stat"}
# administrative-gender: the patient's sex is stored with the same four codes.
GENDER = {"male": "male", "female": "female", "other": "other", "unknown": "unknown"}
