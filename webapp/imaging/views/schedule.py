"""The schedule board (/imaging/schedule?day=YYYY-MM-DD[&order=ID]): a column per active station
with the day's bookings in time order, its downtimes and the free gaps between them, today's time
line, and the orders waiting to be booked (booking itself: views/booking.py); and the schedule form's view of the
chosen scanner's day, with a warning when the chosen time overlaps a booking (imaging.schedule)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask import render_template, request
from flask_login import current_user

from webapp.audit import record_read
from webapp.auth.access import roles_required
from webapp.auth.roles import CAN_VIEW_ORDERS
from webapp.db_types import clinic_day_bounds, clinic_today, clinic_zone, utcnow
from webapp.errors import NotFound
from webapp.imaging import booking, bp, day_lists, downtime, queries, schedule
from webapp.imaging.actions import ACTIONS
from webapp.imaging.models import PRIORITY_LABELS, STATUS_LABELS
from webapp.imaging.rules import parse_uuid
from webapp.paging import FIRST_YEAR, LAST_YEAR
from webapp.web.htmx import render_page
from webapp.web.service_calls import or_404

DAY_TEXT = "A date as YYYY-MM-DD; the board shows today instead."
ACTION_PREFIXES = ("schedule", "reschedule")
WAITING_LIMIT = 50  # the schedule form's field prefixes (imaging.actions)


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
    return board_page(request.args.get("day"), parse_uuid(request.args.get("order")))


def board_page(day_text: str | None, order_id=None, *, form: dict | None = None, errors: dict | None = None,
               conflict=None, message=None, unbook_errors: dict | None = None, status: int = 200):
    """The board for a day: its columns, the orders waiting to be booked, and the chosen order
    (``order_id``, waiting or booked) with the booking form; after a refused booking, the form as
    sent with its errors, or the overlap to confirm ("book anyway?")."""
    bad: dict[str, str] = {}
    day = _day(day_text, bad)
    now = utcnow()
    columns = schedule.board(day, now)
    waiting, waiting_total = day_lists.queue_orders("to_schedule", limit=WAITING_LIMIT)
    try:
        chosen = queries.get_order(order_id) if order_id else None
    except NotFound:
        chosen = None
    if chosen is not None and chosen.status not in ("ordered", "scheduled"):
        chosen = None
    stations = queries.active_stations(chosen.modality) if chosen else []
    record_read(current_user, f"schedule board {day.isoformat()}",
                [b.order.patient_id for c in columns for b in c.bookings] + [o.patient_id for o in waiting]
                + ([chosen.patient_id] if chosen else []))
    zone = clinic_zone()
    if form is None and chosen is not None:
        when = chosen.scheduled_date.astimezone(zone) if chosen.scheduled_date else None
        form = {"station_ae": chosen.scheduled_station_ae or (stations[0].ae_title if len(stations) == 1 else ""),
                "date": (when.date() if when else day).isoformat(), "time": f"{when:%H:%M}" if when else "",
                "reason": "", "allow_overlap": False}
    return render_page(
        "imaging/schedule.html", "live", status=status if not bad else 422, day=day, columns=columns,
        errors=bad, today=clinic_today(now), previous_day=day - timedelta(days=1), next_day=day + timedelta(days=1),
        priorities=PRIORITY_LABELS, statuses=STATUS_LABELS, waiting=waiting, waiting_total=waiting_total, now=now,
        now_line=_now_line(day, now), chosen=chosen, stations=stations, form=form or {}, form_errors=errors or {},
        conflict=conflict, message=message, unbook_errors=unbook_errors or {},
        may_book=current_user.role in ACTIONS["schedule"].roles,
        may_downtime=current_user.role in ("scheduler", "admin"), minutes_between=day_lists.minutes_between,
    )


def _now_line(day: date, now: datetime) -> datetime | None:
    """Where today's time line is drawn: now, when the board shows today (in time order among the
    bookings, before the working day too: scans may run early)."""
    return now if now.astimezone(clinic_zone()).date() == day else None


def downtime_form(values: dict | None = None, errors: dict | None = None, status: int = 200, created=None):
    """The downtime page: the form, the downtimes from today on, and after recording one, the
    bookings it covers (to rebook)."""
    now = utcnow()
    start, _ = clinic_day_bounds(clinic_today(now))
    recorded = request.args.get("recorded", type=int)
    if created is None and recorded is not None:  # after the Post/Redirect/Get of a new downtime
        try:
            down = downtime.get(recorded)
        except NotFound:
            down = None
        if down is not None and down.withdrawn_at is None:
            created = (down, downtime.covered_bookings(down))
    return render_page(
        "imaging/downtime.html", status=status, values=values or {}, errors=errors or {}, created=created,
        stations=queries.all_stations(), downtimes=booking.upcoming_downtimes(None, start, start + timedelta(days=60)),
        today=clinic_today(now), now=now,
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
