"""Reports and critical results (/api/v1): the report of an order (draft, sign, addenda), the
critical results a doctor must acknowledge, and the turnaround figures.

The views parse, call webapp.reporting.services (signing, addenda and acknowledgements are
order actions: one road with every other change), commit once and answer.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from flask import Response, request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema, field_validator, model_validator

from webapp.api.common import expected_version, json_response, problems, resource_blueprint
from webapp.api.errors import ApiError
from webapp.api.orders import committed
from webapp.api.schemas import AddendumOut, HeaderModel, IfMatchHeader, InputModel, OrderPath, limited
from webapp.api.security import api_user, requires
from webapp.audit import record_read
from webapp.auth.roles import CAN_VIEW_ORDERS, Role
from webapp.db_types import clinic_day_bounds, clinic_today
from webapp.extensions import db
from webapp.imaging import queries
from webapp.paging import FIRST_YEAR, LAST_YEAR, MAX_DB_ID, db_id
from webapp.reporting import critical, drafts, metrics, services

RADIOLOGIST = {Role.RADIOLOGIST}
ACKNOWLEDGERS = {Role.DOCTOR, Role.ADMIN}
METRICS_ROLES = {Role.DOCTOR, Role.ADMIN}
DEFAULT_PERIOD_DAYS = 30
MAX_PERIOD_DAYS = 366

reports = resource_blueprint("reports", __name__, "/api/v1/imaging/orders", "Reports")
critical_api = resource_blueprint("critical_results", __name__, "/api/v1/critical-results", "Critical results")
metrics_api = resource_blueprint("metrics", __name__, "/api/v1/metrics", "Metrics")


# ---------------------------------------------------------------------------- schemas


class ReportOut(BaseModel):
    state: Literal["draft", "preliminary", "final"] = Field(
        description="draft (radiologists only), preliminary (signed by a trainee, awaiting an attending's "
                    "co-signature) or final.")
    technique: str | None
    comparison: str | None
    findings: str | None
    impression: str | None
    template_code: str | None
    updated_at: datetime | None
    signed_by: str | None = Field(description="The radiologist who signed (final reports).")
    signed_at: datetime | None
    addenda: list[AddendumOut]
    fields: dict[str, str] | None = Field(None, description="Answers to the structured template's fields.")
    draft_version: int | None = Field(None, description="The draft's version (drafts; 0 before the first save): "
                                                        "sign with it. The ETag is \"draft-N\".")


class DraftIfMatchHeader(HeaderModel):
    if_match: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        None, alias="If-Match",
        description='The draft\'s ETag you read ("draft-N"): a save over a draft changed since gets 412 (nothing '
                    "is overwritten). Without it the save is not checked.")


FieldId = Annotated[str, StringConstraints(max_length=100)]
FieldAnswer = Annotated[str, StringConstraints(max_length=2000)]


class ReportDraftIn(InputModel):
    """The sections to save; those left out keep their text."""

    technique: limited("technique") | None = None
    comparison: limited("comparison") | None = None
    findings: limited("findings") | None = None
    impression: limited("impression") | None = None
    template_code: limited("template_code") | None = None
    fields: dict[FieldId, FieldAnswer] | None = Field(
        None, description="Answers to a structured (MRRT) template's fields, by field id (a choice's value).")


class SignIn(InputModel):
    draft_version: int | None = Field(None, ge=0, lt=2**31, description=(
        "The draft version you read (GET …/report): 412 when the draft changed since. Without it the draft "
        "must be your own last save."))
    critical: bool = False
    critical_note: limited("critical_note") | None = None


class AddendumIn(InputModel):
    text: limited("addendum")
    critical: bool = False
    critical_note: limited("critical_note") | None = None


class CriticalResultOut(BaseModel):
    id: int
    order_id: uuid.UUID
    accession_number: str
    note: str
    raised_by: str
    raised_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    on_behalf: bool = Field(description="Acknowledged by someone other than the ordering doctor.")
    escalated_at: datetime | None = Field(
        description="When it was escalated, still unacknowledged CRITICAL_ACK_MINUTES after it was raised.")


class CriticalResultList(BaseModel):
    items: list[CriticalResultOut]
    next_cursor: str | None


class CriticalQuery(BaseModel):
    state: Literal["open", "acknowledged"] = "open"
    limit: int = Field(50, ge=1, le=200)
    cursor: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,10}$")] | None = None

    @field_validator("cursor")
    @classmethod
    def _an_id(cls, value: str | None) -> str | None:
        if value is not None and db_id(value) is None:
            raise ValueError("Not a cursor this server gave out.")
        return value


class CriticalPath(BaseModel):
    id: int = Field(ge=1, le=MAX_DB_ID)


DayText = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"), WithJsonSchema(
    {"type": "string", "format": "date"})]


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    day = date.fromisoformat(value)  # a ValueError (2026-02-30) is a 422
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValueError(f"must be between the years {FIRST_YEAR} and {LAST_YEAR}")
    return day


class TurnaroundQuery(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: DayText | None = Field(None, alias="from", description="First day (clinic time); default 30 days ago.")
    to: DayText | None = Field(None, description="Last day (clinic time); default today.")

    @model_validator(mode="after")
    def _ordered(self):
        first, last = _day(self.from_), _day(self.to)
        if first and last and first > last:
            raise ValueError("from must not be after to")
        if first and last and (last - first).days > MAX_PERIOD_DAYS:
            raise ValueError(f"at most {MAX_PERIOD_DAYS} days")
        return self


class Figures(BaseModel):
    count: int
    p50_minutes: float | None
    p90_minutes: float | None
    target_minutes: float | None = None
    met_share: float | None = Field(None, description="Share (0..1) within the target (critical results: over "
                                                      "the acknowledged ones and the open ones past the target).")
    open: int | None = Field(None, description="Critical results not acknowledged yet (critical → acknowledged only).")


class GroupFigures(Figures):
    modality: str
    priority: str


class IntervalFigures(BaseModel):
    label: str
    all: Figures
    by_priority: dict[str, Figures]
    by_modality: dict[str, Figures]
    by_modality_and_priority: list[GroupFigures]


class TurnaroundOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")
    to: datetime
    intervals: dict[str, IntervalFigures]


# ---------------------------------------------------------------------------- the report


def report_out(order) -> ReportOut:
    view = services.report_view(api_user(), order)
    return ReportOut(**{name: getattr(view, name) for name in ReportOut.model_fields if name != "addenda"},
                     addenda=[AddendumOut.model_validate(a) for a in view.addenda])


def report_etag(order, out: ReportOut) -> str:
    """A draft's ETag is its own version ("draft-N"); a signed report's is the order's version."""
    return f'"draft-{out.draft_version}"' if out.state == "draft" else f'"{order.version}"'


def expected_draft_version() -> int | None:
    """The draft version If-Match names: None without one (or *), -1 when it names none (412)."""
    if_match = request.if_match
    if not if_match or if_match.star_tag:
        return None
    for tag in if_match.as_set():
        number = tag.removeprefix("draft-")
        if tag.startswith("draft-") and number.isdigit() and len(number) < 10:
            return int(number)
    return -1


@reports.get("/<uuid:id>/report", responses={200: ReportOut} | problems(404))
@requires(CAN_VIEW_ORDERS)
def get_report(path: OrderPath):
    """The order's report: the signed one (anyone who may see the order) or the draft (radiologists)."""
    order = queries.get_order(path.id, references=False)
    out = report_out(order)
    record_read(api_user(), f"report of order {order.accession_number}", [order.patient_id])
    return json_response(out, headers={"ETag": report_etag(order, out)})


@reports.put("/<uuid:id>/report", responses={200: ReportOut} | problems(404, 409, 412))
@requires(RADIOLOGIST)
def save_draft(path: OrderPath, body: ReportDraftIn, header: DraftIfMatchHeader):
    """Save the report draft of a completed order (no order event: drafts are not order changes).
    With ``If-Match: "draft-N"`` a draft changed since is not overwritten (412). Saving claims the
    study; another radiologist's claim answers 409."""
    order = queries.get_order(path.id, for_update=True, references=False)
    drafts.save_draft(api_user(), order, body.model_dump(exclude_unset=True), expected_version=expected_draft_version())
    db.session.commit()
    out = report_out(order)
    return json_response(out, headers={"ETag": report_etag(order, out)})


@reports.post("/<uuid:id>/report/sign", responses={200: ReportOut} | problems(404, 409, 412))
@requires(RADIOLOGIST)
def sign_report(path: OrderPath, body: SignIn, header: IfMatchHeader):
    """Sign the draft: the order becomes reported (findings and impression required). With
    ``critical`` the ordering doctor must acknowledge ``critical_note``. ``draft_version`` is the
    draft you read: 412 when it changed since. Answers the order."""
    order = queries.get_order(path.id, for_update=True, references=False)
    services.sign(api_user(), order, critical_flag=body.critical, critical_note=body.critical_note,
                  expected_version=expected_version(), draft_version=body.draft_version)
    return committed(order)


@reports.post("/<uuid:id>/addenda", responses={201: AddendumOut} | problems(404, 409, 412))
@requires(RADIOLOGIST)
def add_addendum(path: OrderPath, body: AddendumIn, header: IfMatchHeader):
    """Add an addendum under a signed report (409 before the report is signed)."""
    order = queries.get_order(path.id, for_update=True, references=False)
    services.add_addendum(api_user(), order, body.text, critical_flag=body.critical, critical_note=body.critical_note,
                          expected_version=expected_version())
    addendum = order.addenda[-1]
    db.session.commit()
    return json_response(AddendumOut.model_validate(addendum), 201)


# ---------------------------------------------------------------------------- critical results


def critical_out(result) -> CriticalResultOut:
    return CriticalResultOut(
        id=result.id, order_id=result.order_id, accession_number=result.order.accession_number, note=result.note,
        raised_by=result.raised_by_label, raised_at=result.raised_at, acknowledged_by=result.acknowledged_by_label,
        acknowledged_at=result.acknowledged_at, on_behalf=bool(result.on_behalf), escalated_at=result.escalated_at,
    )


@critical_api.get("", responses={200: CriticalResultList})
@requires(ACKNOWLEDGERS)
def list_critical_results(query: CriticalQuery):
    """Critical results, newest first: a doctor's own (the orders they placed), or all for admins."""
    user = api_user()
    doctor = user.id if user.role == Role.DOCTOR else None
    rows = critical.listing(query.state, doctor, query.limit + 1, int(query.cursor) if query.cursor else None)
    page, more = rows[: query.limit], len(rows) > query.limit
    record_read(user, "critical results", [r.order.patient_id for r in page])
    return json_response(CriticalResultList(items=[critical_out(r) for r in page],
                                            next_cursor=str(page[-1].id) if more else None))


@critical_api.post("/<int:id>/acknowledge", responses={200: CriticalResultOut} | problems(404, 409))
@requires(ACKNOWLEDGERS)
def acknowledge(path: CriticalPath):
    """Acknowledge a critical result (the ordering doctor, or a doctor or admin on their behalf);
    a second acknowledgement answers 409."""
    result = services.acknowledge(api_user(), path.id)
    out = critical_out(result)
    db.session.commit()
    return json_response(out)


# ---------------------------------------------------------------------------- metrics


def period(first: date | None, last: date | None) -> tuple[datetime, datetime]:
    last = last or clinic_today()
    first = first or last - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if first > last:
        raise ApiError(422, "Invalid field values", "from must not be after to.", kind="validation",
                       errors={"from": "Must not be after to."})
    return clinic_day_bounds(first)[0], clinic_day_bounds(last)[1]


@metrics_api.get("/turnaround", responses={200: TurnaroundOut})
@requires(METRICS_ROLES)
def turnaround(query: TurnaroundQuery):
    """Median and 90th percentile of each step's duration (minutes) per priority and modality,
    for orders placed from ``from`` to ``to`` (days in clinic time), against the targets."""
    start, end = period(_day(query.from_), _day(query.to))
    out = TurnaroundOut.model_validate(metrics.turnaround(start, end))
    return Response(out.model_dump_json(by_alias=True), mimetype="application/json")


APIS = (reports, critical_api, metrics_api)
