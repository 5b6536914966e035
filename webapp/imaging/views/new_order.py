"""Placing an order from a visit: the order form, pre-filled from the visit, placed once however
often it is sent (imaging.form_submissions)."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user

from webapp.audit import record_read
from webapp.auth.access import roles_required
from webapp.auth.roles import CAN_VIEW_ORDERS
from webapp.errors import ValidationFailed
from webapp.imaging import bp, form_submissions, queries, workflow
from webapp.imaging.forms import ImagingOrderForm
from webapp.imaging.models import ImagingOrder
from webapp.imaging.views.order_form import CORRECT_TEXT, form_page, order_form_valid, order_values
from webapp.imaging.views.orders import ORDERS_CHANGED, add_field_errors
from webapp.patients.queries import get_visit
from webapp.visits.models import Visit
from webapp.web.htmx import htmx_target, is_htmx, render_page
from webapp.web.service_calls import or_404, saving

EXPIRED_TEXT = "This form has expired. Check the values and submit it again."


@bp.route("/imaging/orders/new", methods=["GET", "POST"])
@roles_required(CAN_VIEW_ORDERS)
def new_order():
    if not workflow.may_create(current_user.role):
        abort(403)
    visit = or_404(get_visit, request.values.get("visit_id"))
    if request.method == "GET":
        return _blank_form(visit)
    return _submitted(ImagingOrderForm(), visit)


def _page(form: ImagingOrderForm, visit: Visit, *, status: int = 200, block: str = "form_panel", message=None):
    read = (f"order form for the visit of {visit.visit_date:%Y-%m-%d}", visit.patient_id)
    return form_page(form, visit, read, status=status, block=block, message=message)


def _blank_form(visit: Visit):
    if htmx_target() == "order-choices":  # a select changed: refresh the dependent choices
        return _page(ImagingOrderForm(formdata=request.args), visit, block="choices")
    form = ImagingOrderForm(formdata=None)
    form.visit_id.data = str(visit.id)
    form.form_token.data = form_submissions.new_token(current_user, visit)
    _prefill(form, visit)
    return _page(form, visit)


def _prefill(form: ImagingOrderForm, visit: Visit) -> None:
    """History from the visit's clinical notes; the diagnosis and the clinical indication from it
    only when the visit has exactly one diagnosis (with more, the doctor chooses)."""
    if len(visit.diagnoses) == 1:
        diagnosis = visit.diagnoses[0]
        form.diagnosis_id.data = str(diagnosis.id)
        form.clinical_indication.data = f"{diagnosis.description} ({diagnosis.code})"
    form.clinical_history.data = visit.clinical_notes or ""
    form.priority.data = "routine"


def _submitted(form: ImagingOrderForm, visit: Visit):
    if request.form.get("refresh"):  # without JavaScript: "Update choices" re-renders the form
        return _page(form, visit)
    if not order_form_valid(form, visit):
        return _page(form, visit, status=422, message=CORRECT_TEXT)
    nonce = form_submissions.token_nonce(form.form_token.data, current_user, visit)
    if nonce is None:
        form.form_token.data = form_submissions.new_token(current_user, visit)
        return _page(form, visit, status=422, message=EXPIRED_TEXT)
    with saving() as outcome:
        order = form_submissions.place_once(current_user._get_current_object(), visit, nonce, **order_values(form))
    if isinstance(outcome.refused, ValidationFailed):
        visit = or_404(get_visit, visit.id)
        add_field_errors(form, outcome.refused.errors)
        return _page(form, visit, status=422, message=CORRECT_TEXT)
    if outcome.refused:
        abort(outcome.refused.status)
    return _created(order, visit)


def _created(order: ImagingOrder, visit: Visit):
    if not is_htmx():
        flash(f"Imaging order placed. Accession number {order.accession_number}.", "success")
        return redirect(url_for("imaging.order_detail", order_id=order.id), 303)
    record_read(current_user, f"order {order.accession_number}", [visit.patient_id])
    response = render_page(
        "imaging/order_form.html", "created", order=order, visit=visit,
        oob=(("visits/detail.html", "orders"),), orders=queries.visit_orders(visit.id),
        may_order=workflow.may_create(current_user.role),
    )
    response.headers["HX-Trigger"] = ORDERS_CHANGED
    return response
