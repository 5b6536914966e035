"""The order page's action forms: schedule, start, complete, report, cancel, add a note (each
form built from its imaging.actions definition), posted to one route."""

from __future__ import annotations

import uuid

from flask import abort
from flask_login import current_user

from webapp.auth.access import roles_required
from webapp.auth.roles import CAN_VIEW_ORDERS
from webapp.errors import ServiceError, StationConflict, ValidationFailed
from webapp.imaging import actions, bp, queries, services
from webapp.imaging.forms import ActionForm, action_form
from webapp.imaging.views.orders import add_field_errors, back_to_order, detail_page, stale_text
from webapp.imaging.views.schedule import overlap_text
from webapp.web import local_time
from webapp.web.service_calls import discard, or_404, saving

CORRECT_TEXT = "Please correct the form below."


@bp.route("/imaging/orders/<uuid:order_id>/actions/<action>", methods=["POST"])
@roles_required(CAN_VIEW_ORDERS)
def order_action(order_id: uuid.UUID, action: str):
    definition = actions.ACTIONS.get(action)
    if definition is None or definition.step is None or not definition.listed:
        abort(404)  # unlisted actions (acknowledge) have pages of their own
    order = or_404(queries.get_order, order_id)
    form = action_form(definition)(prefix=action)
    if not form.validate_on_submit():
        discard()
        if hasattr(form, "csrf_token") and form.csrf_token.errors:
            abort(400)
        return detail_page(order, forms={action: form}, status=422, open_action=action,
                           message=("danger", CORRECT_TEXT))
    seen_version = form.version.data
    with saving() as outcome:
        services.apply_action(current_user, order, action, expected_version=seen_version, **form.values())
    if outcome.refused:
        return _refused(outcome.refused, order_id, form, seen_version)
    text = definition.success_text.format(acc=order.accession_number, when=local_time(order.scheduled_date))
    if "station_ae" in form:
        text += overlap_text(order)
    return back_to_order(order, "success", text, changed=True)


def _refused(refused: ServiceError, order_id: uuid.UUID, form: ActionForm, seen_version: int | None):
    """The order as it now is, with the form and its errors, or with why nothing was saved."""
    order = or_404(queries.get_order, order_id)
    action = form.action.name
    if isinstance(refused, ValidationFailed):
        add_field_errors(form, refused.errors, renamed=form.renamed)
        return detail_page(order, forms={action: form}, status=422, open_action=action,
                           message=("danger", "; ".join(refused.errors.values()) or refused.detail))
    if isinstance(refused, StationConflict):  # the form again: another time, or "book anyway"
        hint = " Tick \"Book anyway\" to book it all the same." if refused.overridable else ""
        return detail_page(order, forms={action: form}, status=409, open_action=action,
                           message=("danger", refused.detail.removesuffix(" Book anyway with allow_overlap.") + hint))
    return back_to_order(order, "warning", stale_text(order, refused, seen_version) or refused.detail, status=409)
