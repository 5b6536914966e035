"""The order list and the order page, and how a change answers with the order page."""

from __future__ import annotations

import uuid

from flask import flash, redirect, request, url_for
from flask_login import current_user

from webapp.audit import record_read
from webapp.auth.access import roles_required
from webapp.auth.roles import CAN_VIEW_ORDERS
from webapp.errors import ServiceError, StaleVersion, ValidationFailed
from webapp.imaging import actions, bp, catalogue, queries, services
from webapp.imaging.forms import action_form
from webapp.imaging.models import PRIORITY_LABELS, STATUS_LABELS, ImagingOrder
from webapp.web import live_cache
from webapp.web.htmx import is_htmx, is_live_region_get, render_body, render_page, render_page_text
from webapp.web.service_calls import or_404

PAGE_SIZE = 25
ORDERS_CHANGED = "orders-changed"  # HX-Trigger event after any write; listeners may refresh
STALE_TEXT = "{who} changed order {acc} while you were looking at it. Nothing was saved. "
STALE_SELF_TEXT = "Order {acc} was changed in another tab or window of yours while this one was open. Nothing was saved. "
STALE_NEXT_TEXT = "Below is its current state: check it, then try again if it is still needed."


# ---------------------------------------------------------------------------- order list


FILTER_LABELS = {"q": "Search", "status": "Status", "modality": "Modality", "priority": "Priority",
                 "date_from": "Ordered from", "date_to": "Ordered to", "scheduled_on": "Booked for",
                 "cursor": "Page"}


def _filters_and_page(errors: dict[str, str]):
    """The list's filters and page from the query; what was not understood goes to ``errors``
    and is left out (the other filters apply, and the inputs show what was applied)."""
    filters = queries.OrderFilter.from_args(request.args, errors)
    cursor = request.args.get("cursor") or None
    try:
        orders, next_cursor = queries.list_orders(filters, limit=PAGE_SIZE, cursor=cursor)
    except ValidationFailed as exc:
        errors.update(exc.errors)
        cursor = None
        orders, next_cursor = queries.list_orders(filters, limit=PAGE_SIZE)
    return filters, cursor, orders, next_cursor


@bp.route("/imaging/orders")
@roles_required(CAN_VIEW_ORDERS)
def order_list():
    if is_live_region_get():  # identical lists share one render (webapp.web.live_cache)
        return live_cache.answer("order list", _order_list_shown)
    shown = _order_list_shown(csrf={})
    record_read(current_user, shown.what, shown.patients)
    return render_page_text(shown)


def _order_list_shown(csrf: dict | None = None) -> live_cache.Shown:
    errors: dict[str, str] = {}
    filters, cursor, orders, next_cursor = _filters_and_page(errors)
    # Input that was not understood is said on the page, which lists the orders without it (422).
    html = render_body(
        "imaging/order_list.html", "results",
        orders=orders, next_cursor=next_cursor, cursor=cursor, filters=filters, errors=errors,
        labels=FILTER_LABELS, args=request.args, modalities=catalogue.active_modalities(), statuses=STATUS_LABELS,
        priorities=PRIORITY_LABELS, **(live_cache.csrf_context() if csrf is None else csrf),
    )
    return live_cache.Shown(html, "order list", [o.patient_id for o in orders], 422 if errors else 200)


# ---------------------------------------------------------------------------- the order page


def _action_forms(order: ImagingOrder, allowed: list[str], given: dict | None = None) -> dict:
    """A form per allowed action (note included), keeping a submitted one with its errors."""
    forms = {}
    for action in allowed:
        if actions.ACTIONS[action].step is None:  # e.g. "edit": a page of its own
            continue
        if given and action in given:
            form = given[action]
        else:
            form = action_form(actions.ACTIONS[action])(prefix=action, formdata=None)
            form.version.data = order.version
            form.set_defaults(order.scheduled_date, order.priority)
        if "station_ae" in form:
            form.set_stations(queries.active_stations(order.modality), order.scheduled_station_ae)
        forms[action] = form
    return forms


def detail_page(order: ImagingOrder, *, forms: dict | None = None, message=None, status: int = 200,
                open_action=None):
    """The order page (its #order-main block for htmx); ``forms`` keeps submitted action forms."""
    allowed = services.allowed_actions_for(current_user, order)
    events = queries.order_events(order)
    people = queries.order_people(order)  # one query for the users the page names
    record_read(current_user, f"order {order.accession_number}", [order.patient_id])
    return render_page(
        "imaging/order_detail.html", "order_main", status=status,
        order=order, events=events, allowed=allowed, people=people,
        forms=_action_forms(order, allowed, forms), message=message, open_action=open_action,
        actions=actions.ACTIONS, timeline_entry=actions.timeline_entry,
    )


@bp.route("/imaging/orders/<uuid:order_id>")
@roles_required(CAN_VIEW_ORDERS)
def order_detail(order_id: uuid.UUID):
    return detail_page(or_404(queries.get_order, order_id))


# ---------------------------------------------------------------------------- after a change


def back_to_order(order: ImagingOrder, kind: str, text: str, *, status: int = 200, changed: bool = False,
                  retarget: bool = False):
    """The order page with a message: a redirect (flash) for a plain request; for htmx its
    #order-main region. ``retarget``: swapped in place of the page's one, from a dialog (which
    then closes, app.js). ``changed``: the HX-Trigger that tells listeners to refresh."""
    if not is_htmx():
        flash(text, kind)
        return redirect(url_for("imaging.order_detail", order_id=order.id), 303)
    response = detail_page(order, message=(kind, text), status=status)
    if retarget:
        response.headers["HX-Retarget"] = "#order-main"
        response.headers["HX-Reswap"] = "outerHTML"
    if changed:
        response.headers["HX-Trigger"] = ORDERS_CHANGED
    return response


def stale_text(order: ImagingOrder, refused: ServiceError, seen_version: int | None) -> str | None:
    """What to say when someone else changed the order first (``order`` as it now is); None when
    the refusal has another reason."""
    if isinstance(refused, StaleVersion) or order.version != seen_version:
        return changed_meanwhile(order) + STALE_NEXT_TEXT
    return None


def changed_meanwhile(order: ImagingOrder) -> str:
    """Who changed the order first: the user themself in another tab, or someone named."""
    event = queries.last_event(order)
    if event is not None and event.actor_id is not None and event.actor_id == current_user.id:
        return STALE_SELF_TEXT.format(acc=order.accession_number)
    return STALE_TEXT.format(who=event.actor_label if event is not None else "Someone else", acc=order.accession_number)


def add_field_errors(form, errors: dict[str, str], renamed: dict[str, str] | None = None) -> None:
    """Show the service's field errors (ValidationFailed.errors) beside the form's fields."""
    for name, text in errors.items():
        field = getattr(form, (renamed or {}).get(name, name), None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*field.errors, text]
