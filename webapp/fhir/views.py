"""The FHIR endpoints: reads and searches, each a thin layer over the models, the search module
and the resource builders. Every answer showing a patient's data goes to the access log."""

from __future__ import annotations

import uuid

from flask import Blueprint, current_app, request
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from webapp.api import security
from webapp.api.security import public, requires
from webapp.audit import record_read
from webapp.auth.roles import CAN_VIEW_ORDERS
from webapp.errors import NotFound
from webapp.extensions import db
from webapp.fhir import codes, media, resources, search, studies
from webapp.fhir.capability import Param, ResourceSpec, capability_statement
from webapp.fhir.errors import bad_parameter, register
from webapp.fhir.responses import base_url, fhir_response, read_response, searchset
from webapp.imaging.models import ImagingOrder
from webapp.imaging.queries import get_order
from webapp.paging import keyset_page
from webapp.patients.models import Patient
from webapp.reporting import cosign
from webapp.reporting.models import ReportDetails
from webapp.visits.models import Visit

bp = Blueprint("fhir", __name__, url_prefix=codes.BASE_PATH)
register(bp)

PROFILE = "http://hl7.org/fhir/StructureDefinition/"
ID = "<string(maxlength=64):id>"

SERVICE_REQUEST_SEARCH = (
    Param("identifier", "token", "The accession number (system FHIR_ACCESSION_SYSTEM, type ACSN) or the order "
                                 "number (placer, system FHIR_ORDER_SYSTEM): [system|]value.", search.identifier),
    Param("patient", "reference", "Patient/<id> or <id>.", search.patient),
    Param("status", "token", "request-status: active (ordered to completed), completed (reported), "
                             "revoked (cancelled).", search.status),
    Param("_lastUpdated", "date", "Prefixes eq (default), ge, gt, le, lt.", search.last_updated),
)
REPORT_SEARCH = (
    Param("based-on", "reference", "ServiceRequest/<id> or <id>.", search.based_on),
    Param("patient", "reference", "Patient/<id> or <id>.", search.patient),
)
PATIENT_SEARCH = (
    Param("identifier", "token", "The MRN (system FHIR_MRN_SYSTEM, any case): [system|]value. Required.",
          search.patient_identifier),
)
STUDY_SEARCH = (
    Param("basedon", "reference", "ServiceRequest/<id> or <id>."),
    Param("patient", "reference", "Patient/<id> or <id>."),
)
RESOURCES = (
    ResourceSpec("ServiceRequest", PROFILE + "ServiceRequest", True, SERVICE_REQUEST_SEARCH,
                 "An imaging order. Newest first."),
    ResourceSpec("Patient", PROFILE + "Patient", True, PATIENT_SEARCH, "Patients found by their MRN."),
    ResourceSpec("Encounter", PROFILE + "Encounter", True, (), "A visit the orders were placed from."),
    ResourceSpec("DiagnosticReport", PROFILE + "DiagnosticReport", True, REPORT_SEARCH,
                 "The report of a reported order (same id as its ServiceRequest). Newest order first."),
    ResourceSpec("ImagingStudy", PROFILE + "ImagingStudy", False, STUDY_SEARCH,
                 "Studies the PACS holds for orders (none without a PACS integration); basedon or patient "
                 "is required."),
)


@bp.before_request
def before_fhir_request() -> None:
    security.authenticate(current_app.view_functions.get(request.endpoint))
    media.check_accept(request.headers.get("Accept"))
    search.check_format(request.args)


def _params(specs: tuple[Param, ...]) -> dict:
    return {p.name: p.parser for p in specs}


def _log(what: str, patient_ids) -> None:
    record_read(security.api_user(), what, patient_ids)


def _existing_patients(keys: list[uuid.UUID]) -> list[uuid.UUID]:
    """The patients a search names that exist (a search for one is a look at their record)."""
    return list(db.session.scalars(select(Patient.id).where(Patient.id.in_(keys)))) if keys else []


# ---------------------------------------------------------------------------- metadata


@bp.get("/metadata")
@public
def metadata():
    """The CapabilityStatement (no token needed: it holds no patient data)."""
    return fhir_response(capability_statement(RESOURCES, base_url()))


# ---------------------------------------------------------------------------- ServiceRequest


@bp.get(f"/ServiceRequest/{ID}")
@requires(CAN_VIEW_ORDERS)
def read_service_request(id: str):
    order = get_order(id)
    _log(f"FHIR ServiceRequest {order.accession_number}", [order.patient_id])
    return read_response(resources.service_request(order), order.version, order.updated_at)


def _order_search(resource_type: str, parameters, build, **run):
    """A search over orders answered as ``resource_type``: parse, run, log the patients, bundle."""
    wanted = search.parse(request.args, _params(parameters))
    page = search.run(wanted, **run)
    _log(f"FHIR {resource_type} search", [*_existing_patients(wanted.patients), *(o.patient_id for o in page.rows)])
    entries = [(resource_type, build(order)) for order in page.rows]
    return searchset(resource_type, entries, page.total, wanted.count, page.next_cursor)


@bp.get("/ServiceRequest")
@requires(CAN_VIEW_ORDERS)
def search_service_requests():
    return _order_search("ServiceRequest", SERVICE_REQUEST_SEARCH, resources.service_request,
                         loads=(ImagingOrder.ordering_doctor,))


# ---------------------------------------------------------------------------- DiagnosticReport


@bp.get(f"/DiagnosticReport/{ID}")
@requires(CAN_VIEW_ORDERS)
def read_diagnostic_report(id: str):
    order = get_order(id)
    if order.status != "reported" and not cosign.is_preliminary(order):
        raise NotFound(f"No report for {id}: the order is {order.status}, not reported.")
    _log(f"FHIR DiagnosticReport {order.accession_number}", [order.patient_id])
    return read_response(resources.diagnostic_report(order), order.version, order.updated_at)


@bp.get("/DiagnosticReport")
@requires(CAN_VIEW_ORDERS)
def search_diagnostic_reports():
    return _order_search("DiagnosticReport", REPORT_SEARCH, resources.diagnostic_report,
                         extra=[or_(ImagingOrder.status == "reported", ImagingOrder.id.in_(
                             select(ReportDetails.order_id).where(ReportDetails.preliminary_at.is_not(None))))],
                         loads=(ImagingOrder.radiologist,))


# ---------------------------------------------------------------------------- Patient and Encounter


@bp.get(f"/Patient/{ID}")
@requires(CAN_VIEW_ORDERS)
def read_patient(id: str):
    patient = db.session.get(Patient, _uuid(id, "patient"))
    if patient is None:
        raise NotFound(f"No patient with id {id}.")
    _log("FHIR Patient", [patient.id])
    return read_response(resources.patient_resource(patient), 1, patient.created_at)


@bp.get("/Patient")
@requires(CAN_VIEW_ORDERS)
def search_patients():
    """``Patient?identifier=[system|]value``: the patients with that MRN, as a searchset Bundle."""
    wanted = search.parse(request.args, _params(PATIENT_SEARCH))
    if not request.args.get("identifier"):
        raise bad_parameter("identifier", "Search patients by identifier: [system|]MRN.")
    statement = select(Patient).where(*wanted.conditions)
    total = db.session.scalar(select(func.count()).select_from(Patient).where(*wanted.conditions))
    rows, next_cursor = [], None
    if wanted.count:
        rows, next_cursor = keyset_page(statement, Patient.created_at, Patient.id, cursor=wanted.cursor,
                                        limit=wanted.count)
    _log("FHIR Patient search", [p.id for p in rows])
    entries = [("Patient", resources.patient_resource(p)) for p in rows]
    return searchset("Patient", entries, total, wanted.count, next_cursor)


@bp.get(f"/Encounter/{ID}")
@requires(CAN_VIEW_ORDERS)
def read_encounter(id: str):
    options = [joinedload(Visit.patient), joinedload(Visit.attending_doctor)]
    visit = db.session.get(Visit, _uuid(id, "visit"), options=options)
    if visit is None:
        raise NotFound(f"No visit with id {id}.")
    _log(f"FHIR Encounter of {visit.visit_date:%Y-%m-%d}", [visit.patient_id])
    return read_response(resources.encounter(visit), 1, visit.created_at)


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"No {what} with id {value}.") from None


# ---------------------------------------------------------------------------- ImagingStudy


@bp.get("/ImagingStudy")
@requires(CAN_VIEW_ORDERS)
def search_imaging_studies():
    wanted = search.parse(request.args, _params(STUDY_SEARCH))
    if not request.args.get("basedon") and not request.args.get("patient"):
        raise bad_parameter("basedon", "Search by basedon (ServiceRequest/<id>) or patient (Patient/<id>).")
    orders = _reference_filter("basedon", "ServiceRequest")
    patients = _reference_filter("patient", "Patient")
    found = studies.find_studies(orders, patients)
    rows, next_cursor = studies.page_of(found, wanted.count, wanted.cursor)
    _log("FHIR ImagingStudy search", [*_existing_patients(patients or []), *(s.patient_id for s in rows)])
    entries = [("ImagingStudy", studies.imaging_study(study)) for study in rows]
    return searchset("ImagingStudy", entries, len(found), wanted.count, next_cursor)


def _reference_filter(name: str, resource_type: str) -> list[uuid.UUID] | None:
    """The ids every occurrence of the parameter allows (AND of ORs), or None when not given."""
    allowed: set[uuid.UUID] | None = None
    for value in request.args.getlist(name):
        keys = {key for key in search.reference_ids(name, value, resource_type) if key is not None}
        allowed = keys if allowed is None else allowed & keys
    return None if allowed is None else sorted(allowed)
