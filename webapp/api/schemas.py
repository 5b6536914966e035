"""Pydantic schemas of the JSON API: what each endpoint takes and answers.

They generate the OpenAPI document. Input schemas only check shapes and lengths (the limits of
``webapp.imaging.rules``); the rules (known codes, required steps, who may do what) stay in
``webapp.imaging.rules`` and the order actions of ``webapp.imaging.actions``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from webapp.api import examples
from webapp.imaging.models import CONTRASTS, LATERALITIES, PRIORITIES, STATUSES
from webapp.imaging.rules import TEXT_LIMITS
from webapp.paging import DEFAULT_LIMIT, FIRST_YEAR, LAST_YEAR, MAX_LIMIT
from webapp.patients.models import SEXES

Status = Literal[STATUSES]  # type: ignore[valid-type]
Priority = Literal[PRIORITIES]  # type: ignore[valid-type]
Laterality = Literal[LATERALITIES]  # type: ignore[valid-type]
Sex = Literal[SEXES]  # type: ignore[valid-type]
Contrast = Literal[CONTRASTS]  # type: ignore[valid-type]


def text(limit: int, *, min_length: int = 0):
    """A string of at most ``limit`` characters (the services trim and check emptiness)."""
    return Annotated[str, StringConstraints(max_length=limit, min_length=min_length)]


def limited(name: str):
    return text(TEXT_LIMITS[name])


def _sane_moment(value: datetime) -> datetime:
    try:
        year = value.astimezone(UTC).year
    except OverflowError:
        year = 0
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"must be between the years {FIRST_YEAR} and {LAST_YEAR}")
    return value


def _sane_day(value: date) -> date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must be between the years {FIRST_YEAR} and {LAST_YEAR}")
    return value


def _text_only(value):
    # Pydantic would read a number as seconds since 1970 ("visit_date": 0 is 1970-01-01).
    if not isinstance(value, str | date):
        raise ValueError("must be a date written as text (ISO 8601)")
    return value


# A date and time with its UTC offset, in years the clinic can mean (and the database can store).
Moment = Annotated[AwareDatetime, BeforeValidator(_text_only), AfterValidator(_sane_moment)]
Day = Annotated[date, BeforeValidator(_text_only), AfterValidator(_sane_day)]
Code = Annotated[str, StringConstraints(max_length=20)]
ProcedureCode = Annotated[str, StringConstraints(max_length=16)]


class InputModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------- problems


class Problem(BaseModel):
    """An error, as RFC 9457 ``application/problem+json``."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A URI naming the kind of problem.")
    title: str
    status: int
    detail: str
    errors: dict[str, str] | None = Field(None, description="The bad fields and what is wrong with each.")


# ---------------------------------------------------------------------------- reference data


class ModalityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    description: str | None
    dicom_modality: str
    is_active: bool


class BodyPartOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    modalities: list[str]
    is_paired: bool


class ModalityList(BaseModel):
    items: list[ModalityOut]


class BodyPartList(BaseModel):
    items: list[BodyPartOut]


# ---------------------------------------------------------------------------- patients and visits


class PatientIn(InputModel):
    model_config = ConfigDict(extra="forbid", openapi_extra={"example": examples.PATIENT_IN})

    mrn: Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*$")]
    first_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    last_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    date_of_birth: Annotated[date, BeforeValidator(_text_only)]
    sex: Sex

    @field_validator("date_of_birth")
    @classmethod
    def _plausible_birth_date(cls, value: date) -> date:
        if value > date.today() or value.year < 1880:
            raise ValueError("must be a past date after 1880")
        return value


class PatientOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    mrn: str
    first_name: str
    last_name: str
    date_of_birth: date
    sex: str
    created_at: datetime


class PatientList(BaseModel):
    items: list[PatientOut]
    next_cursor: str | None


class DiagnosisIn(InputModel):
    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)]
    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]


class DiagnosisOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    description: str


class VisitIn(InputModel):
    model_config = ConfigDict(extra="forbid", openapi_extra={"example": examples.VISIT_IN})

    patient_id: uuid.UUID
    visit_date: Moment | None = Field(None, description="Defaults to now.")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    clinical_notes: text(4000) | None = None
    diagnoses: list[DiagnosisIn] = Field(default_factory=list, max_length=20)


class VisitOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    patient_id: uuid.UUID
    visit_date: datetime
    reason: str
    clinical_notes: str | None
    diagnoses: list[DiagnosisOut]
    created_at: datetime


class VisitList(BaseModel):
    items: list[VisitOut]
    next_cursor: str | None


# ---------------------------------------------------------------------------- imaging orders


class OrderCreate(InputModel):
    model_config = ConfigDict(extra="forbid", openapi_extra={"example": examples.ORDER_CREATE})

    patient_id: uuid.UUID
    visit_id: uuid.UUID
    modality: Code = Field(examples=["XRAY"])
    body_part: Code = Field(examples=["CHEST"])
    procedure_code: ProcedureCode | None = Field(None, examples=["71046"])
    laterality: Laterality | None = None
    clinical_indication: limited("clinical_indication") = Field(examples=["Suspected pneumonia"])
    clinical_history: limited("clinical_history") | None = None
    special_instructions: limited("special_instructions") | None = None
    priority: Priority = "routine"
    diagnosis_id: uuid.UUID | None = None
    notes: limited("notes") | None = None
    contrast: Contrast | None = Field(None, description="Defaults to the procedure's (none without one).")


class OrderUpdate(InputModel):
    """The clinical details to change; fields left out keep their value."""

    model_config = ConfigDict(extra="forbid", openapi_extra={"example": examples.ORDER_UPDATE})

    modality: Code | None = None
    body_part: Code | None = None
    procedure_code: ProcedureCode | None = None
    laterality: Laterality | None = None
    clinical_indication: limited("clinical_indication") | None = None
    clinical_history: limited("clinical_history") | None = None
    special_instructions: limited("special_instructions") | None = None
    priority: Priority | None = None
    diagnosis_id: uuid.UUID | None = None
    contrast: Contrast | None = None


class StatusChange(InputModel):
    model_config = ConfigDict(extra="forbid", openapi_extra={"examples": examples.STATUS_CHANGES})

    status: Status
    scheduled_date: Moment | None = Field(None, description="Required to schedule or reschedule.")
    findings: limited("findings") | None = Field(None, description="Required to report.")
    impression: limited("impression") | None = Field(None, description="Required to report.")
    report_text: limited("report_text") | None = None
    reason: limited("reason") | None = Field(
        None, description="Required to cancel and to unbook; to schedule a STAT or urgent order later than its target.")
    number_of_images: Annotated[int, Field(ge=0, le=100_000)] | None = None
    station_ae: Annotated[str, StringConstraints(max_length=16)] | None = Field(
        None, description="When scheduling: the AE title of the scanner booked (\"\" clears it)."
    )
    allow_overlap: bool | None = Field(
        None, description="When scheduling: book even over another booking on the scanner (else 409).")
    note: limited("note") | None = None


class CancelRequest(InputModel):
    model_config = ConfigDict(extra="forbid", openapi_extra={"example": examples.CANCEL})

    reason: limited("reason")
    note: limited("note") | None = None


class ImagesOut(BaseModel):
    """The order's images in the PACS (webapp.pacs): available once a study is matched to it."""

    available: bool = False
    series: int = 0
    instances: int = 0
    viewer_url: str | None = Field(None, description="Opens the study in the viewer (VIEWER_URL_TEMPLATE).")
    received_at: datetime | None = None


class AddendumOut(BaseModel):
    """Text added under a signed report."""

    model_config = ConfigDict(from_attributes=True)

    text: str
    author: str
    created_at: datetime


class SafetyAlertOut(BaseModel):
    """An alert of the safety rules (webapp.safety.rules; docs/safety.md)."""

    code: str
    severity: Literal["stop", "warn"]
    message: str


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    accession_number: str
    order_number: str
    patient_id: uuid.UUID
    visit_id: uuid.UUID
    ordered_by: uuid.UUID | None
    diagnosis_id: uuid.UUID | None
    modality: str
    body_part: str
    procedure_code: str | None
    procedure_name: str | None
    laterality: str | None
    clinical_indication: str
    clinical_history: str | None
    special_instructions: str | None
    status: Status
    priority: Priority
    ordered_date: datetime
    scheduled_date: datetime | None
    performed_date: datetime | None
    completed_date: datetime | None
    reported_date: datetime | None
    cancelled_date: datetime | None
    cancellation_reason: str | None
    performing_technician: uuid.UUID | None
    reporting_radiologist: uuid.UUID | None
    report_text: str | None
    findings: str | None
    impression: str | None
    study_instance_uid: str
    number_of_images: int | None
    scheduled_station_ae: str | None = None
    notes: str | None
    created_at: datetime
    updated_at: datetime
    version: int
    addenda: list[AddendumOut] = Field(default_factory=list, description="Added under the signed report, oldest first.")
    allowed_actions: list[str] = Field(
        default_factory=list, description="What the signed-in user may do to the order now."
    )
    images: ImagesOut = Field(default_factory=ImagesOut, description="The order's images in the PACS.")
    claimed_by: str | None = Field(None, description="The radiologist reading the study now (an active claim).")
    claimed_at: datetime | None = Field(None, description="Since when they hold the claim.")
    report_state: Literal["preliminary", "final"] | None = Field(
        None, description="preliminary: a trainee signed, an attending has not co-signed yet (the order stays "
                          "completed); final: the report is signed.")
    impression_changed: bool = Field(False, description="The final impression differs from the preliminary one "
                                                        "the ordering doctor read.")
    contrast: Contrast = "none"
    safety_alerts: list[SafetyAlertOut] = Field(default_factory=list, description="The safety rules' alerts.")
    safety_cleared_by: uuid.UUID | None = None
    safety_cleared_at: datetime | None = None
    safety_override_reason: str | None = None
    protocol_required: bool = False
    protocol: str | None = None
    protocol_notes: str | None = None
    arrived_at: datetime | None = None

    @field_validator("safety_alerts", mode="before")
    @classmethod
    def _no_alerts(cls, value):
        return value or []


class OrderList(BaseModel):
    model_config = ConfigDict(openapi_extra={"example": examples.ORDER_LIST})

    items: list[OrderOut]
    next_cursor: str | None


# ---------------------------------------------------------------------------- parameters


class OrderPath(BaseModel):
    id: uuid.UUID


class PatientPath(BaseModel):
    id: uuid.UUID


class VisitPath(BaseModel):
    id: uuid.UUID


class PatientOrdersPath(BaseModel):
    patient_id: uuid.UUID


class VisitOrdersPath(BaseModel):
    visit_id: uuid.UUID


class AccessionPath(BaseModel):
    accession_number: Annotated[str, StringConstraints(min_length=1, max_length=20)]


class PageQuery(BaseModel):
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        None, description="The previous page's next_cursor, exactly as given; any other text is 422.")


class OrderQuery(PageQuery):
    status: Status | None = None
    modality: Annotated[str, StringConstraints(max_length=10)] | None = None
    priority: Priority | None = None
    date_from: Day | None = Field(None, description="Ordered on or after this day (clinic time); years 1900-2200, else 422.")
    date_to: Day | None = Field(None, description="Ordered on or before this day (clinic time); years 1900-2200, else 422.")
    scheduled_on: Day | None = Field(None, description="Booked for this day (clinic time); years 1900-2200, else 422.")
    q: Annotated[str, StringConstraints(max_length=100)] | None = Field(
        None, description="Accession number, order number, patient name or MRN."
    )


class PatientQuery(PageQuery):
    q: Annotated[str, StringConstraints(max_length=100)] | None = Field(None, description="Name or MRN.")


class VisitQuery(PageQuery):
    patient_id: uuid.UUID | None = None


class HeaderModel(BaseModel):
    """A request-header model. flask-openapi3 asks for its JSON schema on every request it
    validates (to look up the header names); the schema never changes, so it is made once."""

    @classmethod
    def model_json_schema(cls, *args, **kwargs):
        if args or kwargs:  # the OpenAPI document asks with its own options: build it afresh
            return super().model_json_schema(*args, **kwargs)
        cached = cls.__dict__.get("_default_json_schema")
        if cached is None:
            cached = super().model_json_schema()
            cls._default_json_schema = cached
        return cached


class IdempotencyHeader(HeaderModel):
    idempotency_key: Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")] | None = (
        Field(None, alias="Idempotency-Key", description="Repeat a POST safely: the same key returns the same record.")
    )


class IfMatchHeader(HeaderModel):
    if_match: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        None, alias="If-Match",
        description=("The ETag you read, quoted as sent (\"3\"); one that names no current version (a stale one, "
                     "or text that is no entity tag) gets 412. Required by PUT (428 without it; * overwrites)."),
    )
