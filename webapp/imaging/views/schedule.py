"""The schedule board (/imaging/schedule?day=YYYY-MM-DD): a column per active station with the
day's bookings in time order and the free gaps between them; and the schedule form's view of the
chosen scanner's day, with a warning when the chosen time overlaps a booking (imaging.schedule)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask import render_template, request
from flask_login import current_user

from webapp.audit import record_read
from webapp.auth.access import roles_required
from webapp.auth.roles import CAN_VIEW_ORDERS
from webapp.db_types import clinic_today, clinic_zone
from webapp.imaging import bp, queries, schedule
from webapp.imaging.models import PRIORITY_LABELS, STATUS_LABELS
from webapp.paging import FIRST_YEAR, LAST_YEAR
from webapp.web.htmx import render_page
from webapp.web.service_calls import or_404

DAY_TEXT = "A date as YYYY-MM-DD; the board shows today instead."
ACTION_PREFIXES = ("schedule", "reschedule")  # the schedule form's field prefixes (imaging.actions)


def _day(value: str | None, errors: dict[str, str]) -> date:
    if not value:
        return clinic_today()
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        errors["day"] = DAY_TEXT
        return clinic_today()
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        errors["day"] = DAY_TEXT
        return clinic_today()
    return day


@bp.route("/imaging/schedule")
@roles_required(CAN_VIEW_ORDERS)
def schedule_board():
    errors: dict[str, str] = {}
    day = _day(request.args.get("day"), errors)
    columns = schedule.board(day)
    record_read(current_user, f"schedule board {day.isoformat()}",
                [b.order.patient_id for c in columns for b in c.bookings])
    return render_page(
        "imaging/schedule.html", "board", status=422 if errors else 200, day=day, columns=columns, errors=errors,
        today=clinic_today(), previous_day=day - timedelta(days=1), next_day=day + timedelta(days=1),
        priorities=PRIORITY_LABELS, statuses=STATUS_LABELS,
    )


def _chosen_moment(prefix: str) -> datetime | None:
    try:
        day = date.fromisoformat(request.args.get(f"{prefix}-date", ""))
        at = time.fromisoformat(request.args.get(f"{prefix}-time", ""))
    except ValueError:
        return None
    return datetime.combine(day, at, clinic_zone())


def overlap_text(order) -> str:
    """After a booking: the bookings on its scanner it overlaps, said (it is booked all the same)."""
    clashes = schedule.overlapping(order.scheduled_station_ae, order.scheduled_date, order)
    if not clashes:
        return ""
    others = ", ".join(f"{o.accession_number} at {o.scheduled_date.astimezone(clinic_zone()):%H:%M}" for o in clashes)
    return f" Note: on {order.scheduled_station_ae} it overlaps {others}."


@bp.route("/imaging/orders/<uuid:order_id>/station-day")
@roles_required(CAN_VIEW_ORDERS)
def station_day(order_id):
    """The schedule form's panel: the chosen scanner's bookings on the chosen day, and a warning
    when the chosen time overlaps one of them (htmx, from templates/_macros/actions.html)."""
    order = or_404(queries.get_order, order_id)
    prefix = request.args.get("prefix", "schedule")
    prefix = prefix if prefix in ACTION_PREFIXES else "schedule"
    ae_title = (request.args.get(f"{prefix}-station_ae") or "").strip().upper()
    station = next((s for s in queries.active_stations(order.modality) if s.ae_title == ae_title), None)
    moment = _chosen_moment(prefix)
    column = schedule.station_day(station, moment.date()) if station and moment else None
    clashes = schedule.overlapping(ae_title, moment, order) if station and moment else []
    if column:
        record_read(current_user, f"bookings of {station.ae_title} on {moment.date().isoformat()}",
                    [b.order.patient_id for b in column.bookings])
    return render_template("imaging/_station_day.html", order=order, station=station, moment=moment,
                           column=column, clashes=clashes, priorities=PRIORITY_LABELS)
