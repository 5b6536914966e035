"""The technician's tablet at /imaging/worklist (endpoints ``imaging.worklist`` and
``imaging.worklist_action``; the DICOM Modality Worklist is webapp.dicom): a day's bookings
(``?day=YYYY-MM-DD``, today by default) with overdue bookings first and marked, then in booked
time order, STAT first at the same time; a station filter (``?station=AE``, remembered in a
cookie); one tap to start, one to complete. Two technicians tapping the same order: the first
wins (the order's version), the other is shown the order as it now is.
Live: the list re-fetches itself on every order event.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.exceptions import BadRequest

from webapp.audit import record_read
from webapp.auth.access import roles_required
from webapp.auth.roles import CAN_VIEW_ORDERS
from webapp.db_types import clinic_today, utcnow
from webapp.errors import ValidationFailed
from webapp.imaging import actions, bp, day_lists, queries, services
from webapp.imaging.rules import MAX_IMAGES
from webapp.safety.screening import NotProtocoled, NotReady, SafetyStop
from webapp.web.htmx import is_htmx, render_page
from webapp.web.service_calls import or_404, saving

STATION_COOKIE = "worklist_station"
SAFETY_REFUSALS = (NotProtocoled, SafetyStop, NotReady)
TABLET_ACTIONS = tuple(actions.tablet_actions())  # those with a tablet text: start, complete


class BadWorklistFilter(BadRequest):
    show_description = True  # the error page names the field


def _chosen_day() -> date | None:
    """``day`` from the query (or the action's form): None for today."""
    text = (request.values.get("day") or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadWorklistFilter(f"Day: {text[:20]!r} is not a date (YYYY-MM-DD).") from None


def _chosen_station(stations) -> tuple[str | None, bool]:
    """The station filter from the query (then remembered in a cookie), else the cookie.
    Returns (AE title or None for all, whether to remember it)."""
    titles = {s.ae_title for s in stations}
    if "station" in request.values:
        value = (request.values.get("station") or "").strip().upper()
        if value and value not in titles:
            raise BadWorklistFilter(f"Station: there is no station {value[:16]!r}.")
        return value or None, True
    value = request.cookies.get(STATION_COOKIE, "")
    return (value if value in titles else None), False


def _render(message=None, status: int = 200):
    stations = queries.all_stations()
    station, remember = _chosen_station(stations)
    now = utcnow()
    today = clinic_today(now)
    day = _chosen_day() or today
    entries = day_lists.tablet_day(day, station, now)
    orders = [entry.order for entry in entries]
    record_read(current_user, "worklist", [o.patient_id for o in orders])
    day_arg = day.isoformat() if day != today else None
    response = render_page(
        "imaging/worklist.html", "worklist", status=status,
        entries=entries, stations=stations, station=station, message=message, now=now,
        day=day, today=today, day_arg=day_arg,
        previous_day=(day - timedelta(days=1)).isoformat(), next_day=(day + timedelta(days=1)).isoformat(),
        allowed={o.id: services.allowed_actions_for(current_user, o) for o in orders},
    )
    if remember:
        response.set_cookie(STATION_COOKIE, station or "", max_age=180 * 24 * 3600, httponly=True, samesite="Lax")
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
    if isinstance(outcome.refused, SAFETY_REFUSALS):  # no protocol yet, a stop not cleared (webapp.safety)
        return _done(("danger", f"Not started. {outcome.refused.detail}"), 409)
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
    day = (request.form.get("day") or "").strip()
    return redirect(url_for("imaging.worklist", day=day or None), 303)
