"""Safety screening in the API: a patient's safety record (GET/PUT /api/v1/patients/{id}/safety)
and the safety actions on an order (clear a stop, protocol, arrival). The record's rules are
webapp.safety.record; the actions go through the services like every order change."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from flask import request
from pydantic import BaseModel, BeforeValidator, Field, StrictBool, StringConstraints

from webapp.api.common import etag_for, expected_version, get_or_404, json_response, problems, resource_blueprint
from webapp.api.errors import ApiError
from webapp.api.orders import WRITE, committed
from webapp.api.schemas import IfMatchHeader, InputModel, OrderPath, PatientPath, limited
from webapp.api.security import api_user, no_body, requires
from webapp.audit import record_read
from webapp.auth.roles import CAN_VIEW_ORDERS, Role
from webapp.extensions import commit_keeping_state
from webapp.imaging import queries, services
from webapp.imaging.actions import ACTIONS
from webapp.patients.models import Patient
from webapp.safety import record as safety_record
from webapp.safety import screening
from webapp.safety.models import MR_SAFETY, PREGNANCY, SEVERITIES, SUBSTANCES

patients_api = resource_blueprint("patient_safety", __name__, "/api/v1/patients", "Safety screening")
orders_api = resource_blueprint("order_safety", __name__, "/api/v1/imaging/orders", "Safety screening")
APIS = (patients_api, orders_api)

SAFETY_EDITORS = frozenset({Role.DOCTOR, Role.SCHEDULER, Role.TECHNICIAN, Role.RADIOLOGIST})


def _date_text(value):
    if not isinstance(value, str):
        raise ValueError("a date is a string, YYYY-MM-DD")
    return value


DateText = Annotated[date, BeforeValidator(_date_text)]
Substance = Literal[tuple(SUBSTANCES)]  # type: ignore[valid-type]
Short = Annotated[str, StringConstraints(max_length=200)]


class AllergyIn(InputModel):
    substance: Substance
    reaction: Short | None = None
    severity: Literal[tuple(SEVERITIES)] | None = None  # type: ignore[valid-type]


class ImplantIn(InputModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    mr_safety: Literal[tuple(MR_SAFETY)]  # type: ignore[valid-type]


class EgfrIn(InputModel):
    value: float = Field(gt=0, le=200, description="mL/min/1.73 m²")
    measured_on: DateText


class SafetyIn(InputModel):
    """The whole record (PUT replaces it): fields left out are empty."""

    allergies: list[AllergyIn] = Field(default_factory=list, max_length=20)
    egfr: EgfrIn | None = None
    pregnancy: Literal[tuple(PREGNANCY)] | None = None  # type: ignore[valid-type]
    pregnancy_asked_on: DateText | None = None
    implants: list[ImplantIn] = Field(default_factory=list, max_length=20)
    on_metformin: StrictBool = False
    weight_kg: float | None = Field(None, gt=0.3, le=500)
    diabetes: StrictBool = False
    renal_disease: StrictBool = False


class EgfrOut(BaseModel):
    value: float
    measured_on: date | None


class SafetyOut(BaseModel):
    allergies: list[dict]
    egfr: EgfrOut | None
    pregnancy: str | None
    pregnancy_asked_on: date | None
    implants: list[dict]
    on_metformin: bool
    weight_kg: float | None
    diabetes: bool
    renal_disease: bool
    version: int = Field(description="0 while the patient has no record.")
    updated_at: str | None
    updated_by: str | None


class ClearIn(InputModel):
    reason: limited("reason")


class ProtocolIn(InputModel):
    protocol: limited("protocol")
    notes: limited("protocol_notes") | None = None


def _answer(record):
    body = safety_record.as_json(record)
    return json_response(SafetyOut.model_validate(body), headers={"ETag": etag_for(body["version"])})


@patients_api.get("/<uuid:id>/safety", responses={200: SafetyOut} | problems(404))
@requires(CAN_VIEW_ORDERS)
def get_safety(path: PatientPath):
    """The patient's safety record (empty, version 0, when none was taken), with its ETag."""
    patient = get_or_404(Patient, path.id)
    record_read(api_user(), "safety record", [patient.id])
    return _answer(screening.record_of(patient.id))


@patients_api.put("/<uuid:id>/safety", responses={200: SafetyOut} | problems(404, 412, 428))
@requires(SAFETY_EDITORS)
def put_safety(path: PatientPath, body: SafetyIn, header: IfMatchHeader):
    """Replace the patient's safety record (If-Match required: the ETag read, "0" for a first record,
    or *). The patient's open orders are screened again; who changed what is kept."""
    if not request.headers.get("If-Match", "").strip():
        raise ApiError(428, "Precondition required",
                       "Send If-Match with the record's ETag (GET …/safety gives it), or If-Match: *.",
                       kind="precondition-required")
    patient = get_or_404(Patient, path.id)
    values = body.model_dump()
    record = safety_record.save(api_user(), patient, values, expected_version=expected_version())
    commit_keeping_state()
    return _answer(record)


def _act(order_id, action: str, **values):
    order = queries.get_order(order_id, for_update=True, references=False)
    services.apply_action(api_user(), order, action, expected_version=expected_version(), **values)
    return committed(order)


@orders_api.post("/<uuid:id>/safety/clear", responses=WRITE)
@requires(ACTIONS["clear_safety"].roles)
def clear_safety(path: OrderPath, body: ClearIn, header: IfMatchHeader):
    """A radiologist clears the order's safety stops, with the reason (409 when there is none)."""
    return _act(path.id, "clear_safety", reason=body.reason)


@orders_api.post("/<uuid:id>/protocol", responses=WRITE)
@requires(ACTIONS["protocol"].roles)
def protocol(path: OrderPath, body: ProtocolIn, header: IfMatchHeader):
    """A radiologist protocols the order: the protocol, and notes for the technician."""
    return _act(path.id, "protocol", protocol=body.protocol, protocol_notes=body.notes)


@orders_api.post("/<uuid:id>/arrival", responses=WRITE)
@requires(ACTIONS["arrive"].roles)
@no_body
def arrival(path: OrderPath, header: IfMatchHeader):
    """The patient has arrived (front desk or technician): sets arrived_at. No body needed."""
    return _act(path.id, "arrive")
