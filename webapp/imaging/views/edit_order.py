"""Correcting an order: the order form again, filled with the order's values and version, while
the order is ordered or scheduled (services.update_order). In the dialog of the order page it
posts through htmx; as a page of its own it posts and redirects (PRG)."""

from __future__ import annotations

import uuid

from flask import request
from flask_login import current_user

from webapp.auth.access import roles_required
from webapp.errors import ServiceError, ValidationFailed
from webapp.imaging import bp, queries, services, workflow
from webapp.imaging.forms import EditOrderForm
from webapp.imaging.models import ImagingOrder
from webapp.imaging.timeline import CHANGE_LABELS
from webapp.imaging.views.order_form import CORRECT_TEXT, NO_DIAGNOSIS, form_page, order_form_valid, order_values
from webapp.imaging.views.orders import add_field_errors, back_to_order, changed_meanwhile, stale_text
from webapp.web.htmx import htmx_target, is_htmx
from webapp.web.service_calls import or_404, saving

EDIT_CLOSED_TEXT = "Order {acc} is {status} and can no longer be edited. Below is its current state."
KEPT_TEXT = ("What you entered is still below; the order's page shows its current state. "
             "Check both, then save again if your change is still needed.")
NOTHING_CHANGED_TEXT = "Nothing was changed, so nothing was saved. Change a field, or cancel."


@bp.route("/imaging/orders/<uuid:order_id>/edit", methods=["GET", "POST"])
@roles_required(workflow.EDIT_ROLES)
def edit_order(order_id: uuid.UUID):
    if request.method == "GET":
        return _edit_form(or_404(queries.get_order, order_id))
    # The row stays locked until the commit, as for the API's PUT.
    return _submitted(EditOrderForm(), or_404(queries.get_order, order_id, for_update=True))


def _page(form: EditOrderForm, order: ImagingOrder, *, status: int = 200, block: str = "form_panel",
          message=None, message_kind: str = "danger"):
    read = (f"order {order.accession_number}", order.patient_id)
    return form_page(form, order.visit, read, status=status, block=block, editing=order, in_dialog=is_htmx(),
                     message=message, message_kind=message_kind)


def _closed_text(order: ImagingOrder) -> str:
    return EDIT_CLOSED_TEXT.format(acc=order.accession_number, status=order.status_label.lower())


def _edit_form(order: ImagingOrder):
    if htmx_target() == "order-choices":  # a select changed: refresh the dependent choices
        return _page(EditOrderForm(formdata=request.args), order, block="choices")
    if "edit" not in services.allowed_actions_for(current_user, order):
        return back_to_order(order, "warning", _closed_text(order), status=409, retarget=True)
    return _page(_form_for(order), order)


def _form_for(order: ImagingOrder) -> EditOrderForm:
    """The order form filled with the order's current values and version."""
    form = EditOrderForm(formdata=None)
    form.version.data = order.version
    form.modality.data = order.modality
    form.body_part.data = order.body_part
    form.procedure_code.data = order.procedure_code or ""
    form.laterality.data = order.laterality or ""
    form.diagnosis_id.data = str(order.diagnosis_id) if order.diagnosis_id else NO_DIAGNOSIS
    form.clinical_indication.data = order.clinical_indication
    form.clinical_history.data = order.clinical_history or ""
    form.special_instructions.data = order.special_instructions or ""
    form.priority.data = order.priority
    form.contrast.data, form.contrast_for.data = order.contrast, order.procedure_code or ""
    return form


def _same_value(submitted, current) -> bool:
    """A form value equals the stored one (None is empty; line endings and outer spaces aside)."""
    def plain(value) -> str:
        return "" if value is None else str(value).replace("\r\n", "\n").strip()

    return plain(submitted) == plain(current)


def _form_changes(form: EditOrderForm, order: ImagingOrder) -> dict:
    """The fields the doctor changed, as services.update_order takes them (the rest keep their value)."""
    return {name: value for name, value in order_values(form).items()
            if not _same_value(value, getattr(order, name))}


def _submitted(form: EditOrderForm, order: ImagingOrder):
    if request.form.get("refresh"):  # without JavaScript: "Update choices" re-renders the form
        return _page(form, order)
    if not order_form_valid(form, order.visit):
        return _page(form, order, status=422, message=CORRECT_TEXT)
    order_id, seen_version, station_before = order.id, form.version.data, order.scheduled_station_ae
    changes = _form_changes(form, order)
    with saving() as outcome:
        services.update_order(current_user._get_current_object(), order, changes, expected_version=seen_version)
        changed = order.version != seen_version
    if outcome.refused:
        return _refused(outcome.refused, order_id, form, seen_version)
    if not changed:
        return _page(form, order, message=NOTHING_CHANGED_TEXT, message_kind="info")
    return back_to_order(order, "success", _updated_text(order, changes, station_before), changed=True,
                         retarget=True)


def _refused(refused: ServiceError, order_id: uuid.UUID, form: EditOrderForm, seen_version: int | None):
    """The form again with its errors, or the order as it now is with why nothing was saved."""
    order = or_404(queries.get_order, order_id)
    if isinstance(refused, ValidationFailed):
        add_field_errors(form, refused.errors)
        return _page(form, order, status=422, message=CORRECT_TEXT)
    if "edit" in services.allowed_actions_for(current_user, order) and stale_text(order, refused, seen_version):
        # Changed meanwhile but still editable: the form again with what the user typed, on the
        # order's new version, saying who changed it (issue 26 #18: the text was lost).
        form.version.data = order.version
        return _page(form, order, status=409, message=changed_meanwhile(order) + KEPT_TEXT, message_kind="warning")
    return back_to_order(order, "warning", stale_text(order, refused, seen_version) or _closed_text(order),
                         status=409, retarget=True)


def _updated_text(order: ImagingOrder, changes: dict, station_before: str | None) -> str:
    labels = [CHANGE_LABELS[name].lower() for name in CHANGE_LABELS if name in changes]
    text = f"Order {order.accession_number} is updated" + (f": {', '.join(labels)}." if labels else ".")
    if station_before and not order.scheduled_station_ae:
        text += (f" It is no longer booked on scanner {station_before} (another modality):"
                 " the scheduler books a new one.")
    return text
