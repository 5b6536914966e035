"""Recording a scanner's downtime (the API and the board's downtime page): the downtime row
(webapp.imaging.booking.add_downtime checks it), then a note on the timeline of each booking it
covers, through the one road (services.add_note: event row, published after the commit), so
every open board shows the booking to rebook.

Ending one by hand (``end``): the scanner is back early, or the downtime was recorded by
mistake. An ongoing downtime ends now (its past part stays: bookings were refused then); one that
has not begun is withdrawn (it blocks nothing and is no longer shown); one already over is left
as it is (409). Who ended it and when is kept on the row, and each booking it still covered gets a
note that its booking stands."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from webapp.db_types import clinic_zone, utcnow
from webapp.errors import DowntimeOver, NotFound, PermissionDenied
from webapp.extensions import db
from webapp.imaging import booking, services
from webapp.imaging.models import ImagingOrder, StationDowntime

DOWNTIME_ROLES = ("scheduler", "admin")


def _actor(who) -> services.Actor:
    return who if isinstance(who, services.Actor) else services.Actor.of(who)


def _span(down: StationDowntime) -> str:
    zone = clinic_zone()
    return f"{down.starts_at.astimezone(zone):%Y-%m-%d %H:%M}–{down.ends_at.astimezone(zone):%Y-%m-%d %H:%M}"


def record(who, station_ae: str, start: datetime, end: datetime, reason: str,
           ) -> tuple[StationDowntime, list[ImagingOrder]]:
    actor = _actor(who)
    down, covered = booking.add_downtime(actor, station_ae, start, end, reason)
    for order in covered:
        services.add_note(actor, order,
                          f"Scanner {down.station_ae} is down {_span(down)} ({down.reason}): rebook this order.")
    return down, covered


def covered_bookings(down: StationDowntime) -> list[ImagingOrder]:
    """The bookings still waiting on the scanner inside the downtime (to rebook)."""
    return [o for o in booking.bookings_between(down.station_ae, down.starts_at, down.ends_at) if o.status == "scheduled"]


def get(downtime_id: int, station_ae: str | None = None) -> StationDowntime:
    down = db.session.get(StationDowntime, downtime_id) if 0 < downtime_id < 2**63 else None
    if down is None or (station_ae is not None and down.station_ae != station_ae.strip().upper()):
        raise NotFound(f"No downtime {downtime_id}" + (f" on {station_ae}." if station_ae else "."))
    return down


def end(who, downtime_id: int, station_ae: str | None = None, now: datetime | None = None,
        ) -> tuple[StationDowntime, str, list[ImagingOrder]]:
    """End the downtime now, or withdraw it if it has not begun: (the downtime, "ended" or
    "withdrawn", the bookings it had covered from now on, whose booking now stands)."""
    actor = _actor(who)
    if actor.role not in DOWNTIME_ROLES:
        raise PermissionDenied("Only schedulers and administrators end a scanner's downtime.")
    now = now or utcnow()
    down = db.session.scalar(select(StationDowntime).where(StationDowntime.id == get(downtime_id, station_ae).id)
                             .with_for_update())
    if down.withdrawn_at is not None or down.ends_at <= now:
        when = (down.withdrawn_at or down.ends_at).astimezone(clinic_zone())
        raise DowntimeOver(f"The downtime of {down.station_ae} ({down.reason}) is already over: "
                           f"it ended {when:%Y-%m-%d %H:%M}.")
    freed = [o for o in covered_bookings(down) if o.scheduled_date >= now]  # still ahead: they stand now
    kind = "withdrawn" if down.starts_at >= now else "ended"
    down.withdrawn_at, down.withdrawn_by = now, actor.user_id
    if kind == "ended":
        down.ends_at = now
    db.session.flush()
    stamp = now.astimezone(clinic_zone())
    text = (f"Scanner {down.station_ae} is back up ({kind} {stamp:%Y-%m-%d %H:%M} by {actor.label}; "
            f"it was down for: {down.reason}): this booking stands.")
    for order in freed:
        services.add_note(actor, order, text)
    return down, kind, freed
