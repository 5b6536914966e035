"""The technician's tablet at /imaging/worklist (endpoints ``imaging.worklist`` and
``imaging.worklist_action``; the DICOM Modality Worklist is webapp.dicom): a day's bookings
(``?day=YYYY-MM-DD``, today by default) with overdue bookings first and marked, then in booked
time order, STAT first at the same time; a station filter (``?station=AE``, remembered in a
cookie); one tap to start, one to complete; a start undone within 5 minutes; the day's last
completed scans ("done today"); the scanner's downtime. What was just done stays in a
confirmation until dismissed or replaced, outside the live region. Two technicians tapping the same order: the first
wins (the order's version), the other is shown the order as it now is.
Live: the list re-fetches itself on every order event.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from flask import abort, redirect, request, session, url_for
from flask_login import current_user
from werkzeug.exceptions import BadRequest

from webapp.audit import record_read
from webapp.auth.access import roles_required
from webapp.auth.roles import CAN_VIEW_ORDERS
from webapp.db_types import clinic_day_bounds, clinic_today, utcnow
from webapp.errors import NotFound, StationConflict, TransitionNotAllowed, ValidationFailed
from webapp.imaging import actions, booking, bp, day_lists, queries, services
from webapp.imaging.rules import MAX_IMAGES
from webapp.imaging.steps import UNDO_START_WINDOW
from webapp.safety.screening import NotProtocoled, NotReady, SafetyStop
from webapp.web import live_cache
from webapp.web.htmx import is_htmx, is_live_region_get, render_body, render_page_text
from webapp.web.service_calls import or_404, saving

STATION_COOKIE = "worklist_station"
CONFIRMATION_KEY = "tablet_confirmation"
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


def _may_undo(order, now) -> bool:
    """Whether the tablet offers "Undo" on this order's start (steps.undo_start decides)."""
    return (order.status == "in_progress" and order.performed_date is not None
            and now - order.performed_date <= UNDO_START_WINDOW
            and "undo_start" in services.allowed_actions_for(current_user, order))


def _render(message=None, status: int = 200, done_order=None):
    """The tablet. ``message`` (level, text) is the confirmation of what was just done: it is
    shown outside the live region (out of band to htmx), so a live refresh never wipes it; with
    ``done_order`` just started, it offers Undo while that is allowed. Live re-fetches (no message)
    of identical tablets share one render (live_cache)."""
    day = _chosen_day()
    if message is None and not is_htmx():
        message, done_order = _kept_confirmation()
    build = lambda csrf=None: _shown(day, message, status, csrf, done_order)  # noqa: E731
    if message is None and is_live_region_get():  # identical tablets share one render (live_cache)
        wanted = request.values.get("station") if "station" in request.values else request.cookies.get(STATION_COOKIE)
        response = live_cache.answer(f"worklist:{(wanted or '').strip().upper()}", build)
    else:
        shown = build({})
        record_read(current_user, shown.what, shown.patients)
        response = render_page_text(shown)
    if "station" in request.values:  # valid, or _chosen_station refused it (400)
        station = (request.values.get("station") or "").strip().upper()
        response.set_cookie(STATION_COOKIE, station, max_age=180 * 24 * 3600, httponly=True, samesite="Lax")
    return response


def _shown(day, message, status, csrf, done_order=None) -> live_cache.Shown:
    """The tablet's region; the actions offered depend on the viewer's role only."""
    stations = queries.all_stations()
    station, _ = _chosen_station(stations)
    now = utcnow()
    today = clinic_today(now)
    day = day or today
    entries = day_lists.tablet_day(day, station, now)
    done = day_lists.tablet_done(day, station)
    orders = [entry.order for entry in entries]
    day_arg = day.isoformat() if day != today else None
    start, end = clinic_day_bounds(day)
    html = render_body(
        "imaging/worklist.html", "worklist",
        oob=(("imaging/worklist.html", "confirmation"),) if message is not None else (),
        entries=entries, stations=stations, station=station, message=message, now=now,
        day=day, today=today, day_arg=day_arg, done=done,
        downtimes=booking.upcoming_downtimes(station, max(start, now), end),
        undo=done_order if done_order is not None and _may_undo(done_order, now) else None,
        may_undo={o.id for o in orders if _may_undo(o, now)},
        previous_day=(day - timedelta(days=1)).isoformat(), next_day=(day + timedelta(days=1)).isoformat(),
        allowed={o.id: services.allowed_actions_for(current_user, o) for o in orders},
        **(live_cache.csrf_context() if csrf is None else csrf),
    )
    return live_cache.Shown(html, "worklist", [o.patient_id for o in orders + done], status)


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
    if isinstance(outcome.refused, StationConflict) or (
            isinstance(outcome.refused, TransitionNotAllowed) and action == "undo_start"):
        return _done(("danger", outcome.refused.detail), 409)  # the scanner is busy; too late to undo
    if outcome.refused:  # someone else changed it first: stale version, or no longer in that status
        current = queries.get_order(order_id)
        by = _last_actor(current)
        return _done(("warning", f"Order {current.accession_number} was changed first{by}: it is now "
                                 f"{current.status_label.lower()}. Nothing was saved."), 409)
    return _done(("success", definition.tablet_text.format(acc=order.accession_number)), 200,
                 order if action == "start" else None)


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


def _kept_confirmation():
    """The confirmation a plain (no-JavaScript) post left for the page it redirected to."""
    kept = session.pop(CONFIRMATION_KEY, None)
    if not isinstance(kept, dict):
        return None, None
    order = None
    if kept.get("order_id"):
        try:
            order = queries.get_order(kept["order_id"])
        except NotFound:
            order = None
    return (kept.get("level", "success"), kept.get("text", "")), order


def _done(message, status, done_order=None):
    if is_htmx():
        return _render(message, status, done_order)
    session[CONFIRMATION_KEY] = {"level": message[0], "text": message[1],
                                 "order_id": str(done_order.id) if done_order is not None else None}
    day = (request.form.get("day") or "").strip()
    return redirect(url_for("imaging.worklist", day=day or None), 303)
