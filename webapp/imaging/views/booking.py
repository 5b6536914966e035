"""Booking on the schedule board (/imaging/schedule): pick a waiting order (``?order=``), then a
free slot (a "Book" button in a free gap) or the keyboard form (scanner, date, time), and the
booking is the order's "schedule" (or "reschedule") action, with the same rules as everywhere
(webapp.imaging.booking): an overlap asks "book anyway?", a downtime and a late STAT without a
reason are refused. Unbooking takes a reason. And the scanner's downtime page
(/imaging/schedule/downtime, schedulers and administrators).
"""

from __future__ import annotations

from datetime import date, datetime, time

from flask import flash, redirect, request, url_for
from flask_login import current_user

from webapp.auth.access import roles_required
from webapp.auth.roles import CAN_VIEW_ORDERS, Role
from webapp.db_types import clinic_zone
from webapp.errors import StationConflict, ValidationFailed
from webapp.imaging import bp, downtime, queries, services
from webapp.imaging.rules import parse_uuid
from webapp.imaging.views.schedule import board_page
from webapp.web.htmx import is_htmx
from webapp.web.service_calls import or_404, saving

DOWNTIME_ROLES = {Role.SCHEDULER, Role.ADMIN}


def _moment(prefix: str, errors: dict[str, str]) -> datetime | None:
    try:
        day = date.fromisoformat((request.form.get(f"{prefix}date") or "").strip())
    except ValueError:
        errors[f"{prefix}date"] = "A date as YYYY-MM-DD."
        return None
    try:
        at = time.fromisoformat((request.form.get(f"{prefix}time") or "").strip())
    except ValueError:
        errors[f"{prefix}time"] = "A time as HH:MM."
        return None
    return datetime.combine(day, at, clinic_zone())


def _back(day: str | None, order_id=None, anchor: str = ""):
    return redirect(url_for("imaging.schedule_board", day=day or None, order=order_id) + anchor, 303)


@bp.route("/imaging/schedule/book", methods=["POST"])
@roles_required(CAN_VIEW_ORDERS)
def board_book():
    order = or_404(queries.get_order, parse_uuid(request.form.get("order_id")))
    day = (request.form.get("day") or "").strip()[:10] or None
    errors: dict[str, str] = {}
    when = _moment("", errors)
    try:
        version = int(request.form.get("version", ""))
    except ValueError:
        version = None
    form = {"station_ae": (request.form.get("station_ae") or "").strip().upper()[:16],
            "date": request.form.get("date", "")[:10], "time": request.form.get("time", "")[:5],
            "reason": (request.form.get("reason") or "")[:1000], "allow_overlap": request.form.get("allow_overlap") == "y"}
    if errors:
        return board_page(day, order.id, form=form, errors=errors, status=422)
    action = "reschedule" if order.status == "scheduled" else "schedule"
    with saving() as outcome:
        services.apply_action(current_user, order, action, expected_version=version, scheduled_date=when,
                              station_ae=form["station_ae"], allow_overlap=form["allow_overlap"],
                              reason=form["reason"] or None)
    refused = outcome.refused
    if isinstance(refused, ValidationFailed):
        return board_page(day, order.id, form=form, errors=refused.errors, status=422)
    if isinstance(refused, StationConflict):
        return board_page(day, order.id, form=form, conflict=refused, status=409)
    if refused:
        return board_page(day, None, message=("warning", refused.detail), status=409)
    done = (f"{order.accession_number} booked on {order.scheduled_station_ae or 'no scanner'} at "
            f"{order.scheduled_date.astimezone(clinic_zone()):%Y-%m-%d %H:%M}.")
    booked_day = order.scheduled_date.astimezone(clinic_zone()).date().isoformat()
    if is_htmx():
        return board_page(booked_day, None, message=("success", done))
    flash(done, "success")
    return _back(booked_day, anchor=f"#booking-{order.id}")


@bp.route("/imaging/schedule/unbook", methods=["POST"])
@roles_required(CAN_VIEW_ORDERS)
def board_unbook():
    order = or_404(queries.get_order, parse_uuid(request.form.get("order_id")))
    day = (request.form.get("day") or "").strip()[:10] or None
    try:
        version = int(request.form.get("version", ""))
    except ValueError:
        version = None
    with saving() as outcome:
        services.apply_action(current_user, order, "unbook", expected_version=version,
                              reason=request.form.get("reason"))
    if isinstance(outcome.refused, ValidationFailed):
        return board_page(day, order.id, unbook_errors=outcome.refused.errors, status=422)
    if outcome.refused:
        return board_page(day, None, message=("warning", outcome.refused.detail), status=409)
    text = f"{order.accession_number} unbooked: it waits to be booked again."
    if is_htmx():
        return board_page(day, None, message=("success", text))
    flash(text, "success")
    return _back(day)


@bp.route("/imaging/schedule/downtime", methods=["GET", "POST"])
@roles_required(DOWNTIME_ROLES)
def downtime_page():
    from webapp.imaging.views.schedule import downtime_form

    if request.method == "GET":
        return downtime_form()
    errors: dict[str, str] = {}
    start, end = _moment("start_", errors), _moment("end_", errors)
    values = {name: (request.form.get(name) or "")[:1000] for name in
              ("station_ae", "start_date", "start_time", "end_date", "end_time", "reason")}
    if errors:
        return downtime_form(values, errors, 422)
    with saving() as outcome:
        down, covered = downtime.record(current_user, values["station_ae"], start, end, values["reason"])
    if isinstance(outcome.refused, ValidationFailed):
        renamed = {"start": "start_date", "end": "end_date"}
        return downtime_form(values, {renamed.get(k, k): v for k, v in outcome.refused.errors.items()}, 422)
    # Post/Redirect/Get: reloading the page shows the downtime again, it does not record it twice.
    return redirect(url_for("imaging.downtime_page", recorded=down.id), 303)


@bp.route("/imaging/schedule/downtime/<id:downtime_id>/end", methods=["POST"])
@roles_required(DOWNTIME_ROLES)
def downtime_end(downtime_id):
    """End a downtime now (the scanner is back early) or withdraw one that has not begun."""
    with saving() as outcome:
        down, kind, freed = downtime.end(current_user, downtime_id)
    if outcome.refused:
        flash(outcome.refused.detail, "warning")
    else:
        stands = f" {len(freed)} booking(s) it covered stand and are noted so." if freed else ""
        flash(f"The downtime of {down.station_ae} ({down.reason}) is {kind}.{stands}", "success")
    return redirect(url_for("imaging.downtime_page"), 303)
