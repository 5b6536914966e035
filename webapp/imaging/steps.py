"""What each order action does to the order: its service step.

A step gets the order, the actor, the action's values (already checked by the action's fields,
see webapp.imaging.actions) and the moment, sets the order's dates, people and values, and
returns the ``changes`` recorded on the action's event. The status, ``updated_at``, the flush
and the event row are the service's (services.change_status), the same for every action.
A step may still refuse (ValidationFailed) before it changes anything.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from webapp.errors import ValidationFailed
from webapp.imaging.models import ImagingOrder
from webapp.imaging.rules import MAX_NOTES_LENGTH, check_booking_time

Changes = dict[str, Any]


def jsonable(value: Any) -> Any:
    """A value as it is kept in an event's ``changes`` (JSON)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def schedule(order: ImagingOrder, actor, values: dict, moment: datetime) -> Changes:
    """Schedule or reschedule: the date, who booked it, and the scanner (values["station_ae"]).
    A time in the past is refused (rules.check_booking_time), measured from ``moment``."""
    errors: dict[str, str] = {}
    check_booking_time(values["scheduled_date"], moment, errors)
    if errors:
        raise ValidationFailed(errors)
    changes: Changes = {}
    if values["station_ae"] != order.scheduled_station_ae:
        changes["station_ae"] = {"from": order.scheduled_station_ae, "to": values["station_ae"]}
    changes["scheduled_date"] = {"from": jsonable(order.scheduled_date), "to": jsonable(values["scheduled_date"])}
    order.scheduled_date = values["scheduled_date"]
    order.scheduled_by = actor.user_id
    order.scheduled_station_ae = values["station_ae"]
    return changes


def start(order: ImagingOrder, actor, values: dict, moment: datetime) -> Changes:
    order.performed_date = moment
    order.performing_technician = actor.user_id
    return {}


def complete(order: ImagingOrder, actor, values: dict, moment: datetime) -> Changes:
    order.completed_date = moment
    if order.performing_technician is None:
        order.performing_technician = actor.user_id
    if values["number_of_images"] is None:
        return {}
    order.number_of_images = values["number_of_images"]
    return {"number_of_images": values["number_of_images"]}


def report(order: ImagingOrder, actor, values: dict, moment: datetime) -> Changes:
    order.findings, order.impression = values["findings"], values["impression"]
    order.report_text = values["report_text"]
    order.reported_date = moment
    order.reporting_radiologist = actor.user_id
    return {"report": {name: values[name] for name in ("findings", "impression", "report_text")}}


def cancel(order: ImagingOrder, actor, values: dict, moment: datetime) -> Changes:
    order.cancellation_reason = values["reason"]
    order.cancelled_date = moment
    order.cancelled_by = actor.user_id
    return {"reason": values["reason"]}


def note(order: ImagingOrder, actor, values: dict, moment: datetime) -> Changes:
    """Append the note to ``notes`` with its time and author (the event carries it too)."""
    line = f"[{moment:%Y-%m-%d %H:%M} UTC, {actor.label}] {values['note']}"
    combined = f"{order.notes}\n{line}" if order.notes else line
    if len(combined) > MAX_NOTES_LENGTH:
        raise ValidationFailed({"note": "The order has too many notes; ask an administrator."})
    order.notes = combined
    return {}
