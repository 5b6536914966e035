"""Imaging orders: /api/v1/imaging/orders (the seed's endpoints, CONTRACT paths and methods).

Each view parses input, calls ``webapp.imaging.services`` or ``queries``, commits once and
answers; the service layer decides what is allowed (the transition table) and raises
``ServiceError``s, which errors.py turns into problems after rolling back.
"""

from __future__ import annotations

from flask import request

from webapp.api import examples
from webapp.api.common import answer as answer_doc
from webapp.api.common import etag_for, expected_version, get_or_404, json_response, problems, resource_blueprint
from webapp.api.errors import ApiError
from webapp.api.idempotency import create_once
from webapp.api.schemas import (
    AccessionPath,
    CancelRequest,
    IdempotencyHeader,
    IfMatchHeader,
    ImagesOut,
    OrderCreate,
    OrderList,
    OrderOut,
    OrderPath,
    OrderQuery,
    OrderUpdate,
    PatientOrdersPath,
    StatusChange,
    VisitOrdersPath,
)
from webapp.api.security import api_user, requires
from webapp.audit import record_read
from webapp.auth.roles import CAN_VIEW_ORDERS
from webapp.extensions import commit_keeping_state
from webapp.imaging import queries, services, workflow
from webapp.imaging.models import ImagingOrder
from webapp.pacs import display
from webapp.patients.models import Patient
from webapp.reporting import claims, cosign
from webapp.reporting.services import preload_addenda
from webapp.visits.models import Visit

api = resource_blueprint("orders", __name__, "/api/v1/imaging/orders", "Imaging orders")

ETAG = {"ETag": True}
ONE = {200: answer_doc("OrderOut", "The order", headers=ETAG, example=examples.ORDER)} | problems(404)
WRITE = {200: answer_doc("OrderOut", "The order as changed", headers=ETAG, example=examples.ORDER)} | problems(
    404, 409, 412)
CREATED = {
    201: answer_doc("OrderOut", "The new order", headers=ETAG | {"Location": True}, example=examples.ORDER),
    200: answer_doc("OrderOut", "The order an earlier request with this Idempotency-Key created (nothing new)",
                    headers=ETAG | {"Location": True, "Idempotent-Replayed": True}, example=examples.ORDER),
}
# A model (not a $ref): it puts OrderList and OrderOut into the document's components.
LIST = {200: OrderList}


def order_out(order: ImagingOrder, studies: dict | None = None, claimed: dict | None = None) -> OrderOut:
    """The order's JSON; ``studies`` (order id -> PACS study) and ``claimed`` (order id -> active
    claim) when a page looked them up at once."""
    out = OrderOut.model_validate(order)
    if order.status in ("completed", "reported"):
        out.report_state = cosign.report_state(order)
        out.impression_changed = bool(order.report_details and order.report_details.impression_changed)
    claim = None
    if order.status == "completed":
        claim = (claims.active_claims([order.id]) if claimed is None else claimed).get(order.id)
    if claim is not None:
        out.claimed_by, out.claimed_at = claims.holder_label(claim), claim.claimed_at
    out.allowed_actions = services.allowed_actions_for(api_user(), order)
    studies = display.studies_by_order([order.id]) if studies is None else studies
    out.images = ImagesOut(**display.images_json(studies.get(order.id)))
    return out


def answer(order: ImagingOrder, status: int = 200, headers: dict | None = None):
    return json_response(order_out(order), status, {"ETag": etag_for(order.version)} | (headers or {}))


def shown(order: ImagingOrder):
    """The answer to a read of one order, logged as a read of its patient's record."""
    record_read(api_user(), f"order {order.accession_number}", [order.patient_id])
    return answer(order)


def committed(order: ImagingOrder, status: int = 200, headers: dict | None = None):
    """Commit, then answer with the order as flushed: the transaction's locks (the year's number,
    the audit chain) are released before the answer is built, and nothing is read back."""
    commit_keeping_state()
    return answer(order, status, headers)


def page(filters: queries.OrderFilter, query: OrderQuery, what: str, patient_id=None):
    """One page of orders; the access log names the page's patients (and ``patient_id``, the
    patient the list is about, even when the page is empty)."""
    orders, next_cursor = queries.list_orders(filters, limit=query.limit, cursor=query.cursor, references=False)
    record_read(api_user(), what, [patient_id, *(o.patient_id for o in orders)])
    studies = display.studies_by_order(o.id for o in orders)
    claimed = claims.active_claims(o.id for o in orders if o.status == "completed")
    preload_addenda(orders)
    return json_response(OrderList(items=[order_out(o, studies, claimed) for o in orders], next_cursor=next_cursor))


@api.post("", responses=CREATED | problems(404))
@requires(workflow.CREATE_ROLES)
def create_order(body: OrderCreate, header: IdempotencyHeader):
    """Place an order (doctors). With an Idempotency-Key a repeated POST returns the same order."""
    return create_once(
        header.idempotency_key, lambda: services.create_order(api_user(), **body.model_dump()),
        load=lambda order_id: queries.get_order(order_id, references=False),
        # A replay names the order's Location too.
        respond=lambda order, status, headers: answer(order, status, {"Location": _location(order)} | headers),
        commit=commit_keeping_state,
    )


def _location(order: ImagingOrder) -> str:
    return f"{api.url_prefix}/{order.id}"


@api.get("", responses=LIST)
@requires(CAN_VIEW_ORDERS)
def list_orders(query: OrderQuery):
    """Orders, newest first, filtered; page on with next_cursor."""
    return page(queries.OrderFilter.from_args(request.args), query, "order list")


@api.get("/<uuid:id>", responses=ONE)
@requires(CAN_VIEW_ORDERS)
def get_order(path: OrderPath):
    """One order, with its ETag."""
    return shown(queries.get_order(path.id, references=False))


@api.put("/<uuid:id>", responses=WRITE | problems(428))
@requires(workflow.EDIT_ROLES)
def update_order(path: OrderPath, body: OrderUpdate, header: IfMatchHeader):
    """Change the clinical details of an ordered or scheduled order; fields left out keep their value.

    If-Match is required (428 without it): send the ETag you read, so that a change someone else
    made meanwhile is not overwritten unseen (412); ``If-Match: *`` overwrites whatever is there.
    """
    if not request.headers.get("If-Match", "").strip():
        raise ApiError(428, "Precondition required",
                       "Send If-Match with the order's ETag (GET /api/v1/imaging/orders/{id} gives it), "
                       "or If-Match: * to overwrite whatever is there now.", kind="precondition-required")
    order = queries.get_order(path.id, for_update=True, references=False)
    services.update_order(api_user(), order, body.model_dump(exclude_unset=True), expected_version=expected_version())
    return committed(order)


@api.patch("/<uuid:id>/status", responses=WRITE)
@requires(CAN_VIEW_ORDERS)
def change_status(path: OrderPath, body: StatusChange, header: IfMatchHeader):
    """Move the order to its next status; the transition table decides who may.

    scheduled needs scheduled_date (and may book station_ae), reported needs findings and
    impression, cancelled needs reason; any step takes a note.
    """
    order = queries.get_order(path.id, for_update=True, references=False)
    fields = body.model_dump(exclude={"status"}, exclude_none=True)
    services.change_status(api_user(), order, body.status, expected_version=expected_version(), **fields)
    return committed(order)


@api.delete("/<uuid:id>", responses=WRITE)
@requires(CAN_VIEW_ORDERS)
def cancel_order(path: OrderPath, body: CancelRequest, header: IfMatchHeader):
    """Cancel the order (with a reason). Nothing is deleted: the order stays, cancelled."""
    order = queries.get_order(path.id, for_update=True, references=False)
    services.cancel_order(api_user(), order, body.reason, note=body.note, expected_version=expected_version())
    return committed(order)


@api.get("/patient/<uuid:patient_id>", responses=LIST | problems(404))
@requires(CAN_VIEW_ORDERS)
def patient_orders(path: PatientOrdersPath, query: OrderQuery):
    """A patient's imaging history, newest first (the list filters apply)."""
    get_or_404(Patient, path.patient_id)
    filters = queries.OrderFilter.from_args(request.args)
    filters.patient_id = path.patient_id
    return page(filters, query, "imaging history", path.patient_id)


@api.get("/visit/<uuid:visit_id>", responses=LIST | problems(404))
@requires(CAN_VIEW_ORDERS)
def visit_orders(path: VisitOrdersPath, query: OrderQuery):
    """The orders placed from a visit, newest first (the list filters apply)."""
    visit = get_or_404(Visit, path.visit_id)
    filters = queries.OrderFilter.from_args(request.args)
    filters.visit_id = path.visit_id
    return page(filters, query, f"orders of the visit of {visit.visit_date:%Y-%m-%d}", visit.patient_id)


@api.get("/accession/<string(maxlength=64):accession_number>", responses=ONE)
@requires(CAN_VIEW_ORDERS)
def order_by_accession(path: AccessionPath):
    """One order by its accession number (ACC-YYYY-NNNNN)."""
    return shown(queries.get_order_by_accession(path.accession_number, references=False))
