"""The technician's tablet at /imaging/worklist (endpoints ``imaging.worklist`` and
``imaging.worklist_action``; the DICOM Modality Worklist is webapp.dicom): today's scheduled and
in-progress orders by modality, one tap to start, one to complete. Two technicians tapping the
same order: the first wins (the order's version), the other is shown the order as it now is.
Live: the list re-fetches itself on every order event.
"""

from __future__ import annotations

import uuid
from itertools import groupby

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user

from webapp.audit import record_read
from webapp.auth.access import roles_required
from webapp.auth.roles import CAN_VIEW_ORDERS
from webapp.errors import ValidationFailed
from webapp.imaging import actions, bp, catalogue, queries, services
from webapp.imaging.rules import MAX_IMAGES
from webapp.web.htmx import is_htmx, render_page
from webapp.web.service_calls import or_404, saving

MODALITY_COOKIE = "worklist_modality"
TABLET_ACTIONS = tuple(actions.tablet_actions())  # those with a tablet text: start, complete


def _chosen_modality(modalities) -> tuple[str | None, bool]:
    """The filter from the query (then remembered in a cookie), else the cookie. ('', all)."""
    codes = {m.code for m in modalities}
    if "modality" in request.args:
        value = (request.args.get("modality") or "").strip().upper()
        return (value if value in codes else None), True
    value = request.cookies.get(MODALITY_COOKIE, "")
    return (value if value in codes else None), False


def _render(message=None, status: int = 200):
    modalities = catalogue.active_modalities()
    modality, remember = _chosen_modality(modalities)
    orders = queries.worklist_orders(modality=modality)
    record_read(current_user, "worklist", [o.patient_id for o in orders])
    groups = [(code, list(items)) for code, items in groupby(orders, key=lambda o: o.modality)]
    response = render_page(
        "imaging/worklist.html", "worklist", status=status,
        groups=groups, modalities=modalities, modality=modality, message=message,
        names={m.code: m.name for m in modalities},
        allowed={o.id: services.allowed_actions_for(current_user, o) for o in orders},
    )
    if remember:
        response.set_cookie(MODALITY_COOKIE, modality or "", max_age=180 * 24 * 3600, httponly=True, samesite="Lax")
    return response


@bp.route("/imaging/worklist")
@roles_required(CAN_VIEW_ORDERS)
def worklist():
    return _render()


@bp.route("/imaging/worklist/<uuid:order_id>/<action>", methods=["POST"])
@roles_required(CAN_VIEW_ORDERS)
def worklist_action(order_id: uuid.UUID, action: str):
    if action not in TABLET_ACTIONS:
        abort(404)
    order = or_404(queries.get_order, order_id)
    try:
        version = int(request.form.get("version", ""))
    except ValueError:
        abort(400)
    definition = actions.ACTIONS[action]
    kwargs, missing = _counts(definition)
    if missing:
        return _done(("danger", f"Order {order.accession_number}: enter the {missing.lower()} (0 or more)."), 422)
    with saving() as outcome:
        services.apply_action(current_user, order, action, expected_version=version, **kwargs)
    if isinstance(outcome.refused, ValidationFailed):
        return _done(("danger", "; ".join(outcome.refused.errors.values())), 422)
    if outcome.refused:  # someone else changed it first: stale version, or no longer in that status
        current = queries.get_order(order_id)
        by = _last_actor(current)
        return _done(("warning", f"Order {current.accession_number} was changed first{by}: it is now "
                                 f"{current.status_label.lower()}. Nothing was saved."), 409)
    return _done(("success", definition.tablet_text.format(acc=order.accession_number)), 200)


def _counts(action: actions.OrderAction) -> tuple[dict[str, int], str | None]:
    """The action's counts (the tablet takes no other kind of value) from the tablet's form, each
    one required there; else the label of the first one missing or out of range."""
    values = {}
    for spec in (spec for spec in action.fields if spec.kind == "count"):
        text = (request.form.get(spec.name) or "").strip()
        if not text.isdigit() or int(text) > MAX_IMAGES:
            return values, spec.label
        values[spec.name] = int(text)
    return values, None


def _last_actor(order) -> str:
    events = queries.order_events(order)
    return f" by {events[-1].actor_label}" if events else ""


def _done(message, status):
    if is_htmx():
        return _render(message, status)
    flash(message[1], message[0] if message[0] != "danger" else "error")
    return redirect(url_for("imaging.worklist"), 303)
