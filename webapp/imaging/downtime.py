"""Recording a scanner's downtime (the API and the board's downtime page): the downtime row
(webapp.imaging.booking.add_downtime checks it), then a note on the timeline of each booking it
covers, through the one road (services.add_note: event row, published after the commit), so
every open board shows the booking to rebook."""

from __future__ import annotations

from datetime import datetime

from webapp.db_types import clinic_zone
from webapp.imaging import booking, services
from webapp.imaging.models import ImagingOrder, StationDowntime


def record(who, station_ae: str, start: datetime, end: datetime, reason: str,
           ) -> tuple[StationDowntime, list[ImagingOrder]]:
    actor = who if isinstance(who, services.Actor) else services.Actor.of(who)
    down, covered = booking.add_downtime(actor, station_ae, start, end, reason)
    zone = clinic_zone()
    for order in covered:
        services.add_note(actor, order, (
            f"Scanner {down.station_ae} is down {down.starts_at.astimezone(zone):%Y-%m-%d %H:%M}–"
            f"{down.ends_at.astimezone(zone):%Y-%m-%d %H:%M} ({down.reason}): rebook this order."))
    return down, covered
