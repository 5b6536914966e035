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
from webapp.extensions import db
from webapp.imaging.models import ImagingOrder
from webapp.imaging.rules import MAX_NOTES_LENGTH, check_booking_time
from webapp.reporting import critical, drafts
from webapp.reporting.models import ReportAddendum, ReportDetails
from webapp.safety import screening

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
    A time in the past is refused (rules.check_booking_time), measured from ``moment``; so is an
    order with a safety stop not cleared (webapp.safety.screening)."""
    screening.check_bookable(order)
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
    """Not before the order's protocol, nor with a safety stop not cleared (webapp.safety.screening)."""
    screening.check_startable(order)
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
    """Sign the report (the editor's sections, or findings and impression alone); its draft goes,
    and a critical finding is raised for the ordering doctor."""
    note = critical.critical_note(values)
    errors: dict[str, str] = {}
    template_code = drafts.check_template(values["template_code"], errors)
    if errors:
        raise ValidationFailed(errors)
    order.findings, order.impression = values["findings"], values["impression"]
    order.report_text = values["report_text"]
    if values["technique"] or values["comparison"] or template_code:
        db.session.add(ReportDetails(order_id=order.id, technique=values["technique"],
                                     comparison=values["comparison"], template_code=template_code))
    order.reported_date = moment
    order.reporting_radiologist = actor.user_id
    drafts.discard(order)
    signed = {name: values[name] for name in ("findings", "impression", "report_text")}
    signed |= {name: values[name] for name in ("technique", "comparison") if values[name] is not None}
    changes: Changes = {"report": signed}
    if note is not None:
        changes["critical"] = critical.raise_critical(order, actor, note, moment)
    return changes


def addendum(order: ImagingOrder, actor, values: dict, moment: datetime) -> Changes:
    """Text added under a signed report (never an edit of it); it may raise a critical finding."""
    note = critical.critical_note(values)
    order.addenda.append(ReportAddendum(
        order_id=order.id, text=values["addendum"], author_id=actor.user_id, author_label=actor.label[:128],
        created_at=moment,
    ))
    changes: Changes = {"addendum": values["addendum"]}
    if note is not None:
        changes["critical"] = critical.raise_critical(order, actor, note, moment)
    return changes


def acknowledge(order: ImagingOrder, actor, values: dict, moment: datetime) -> Changes:
    """The ordering doctor (or someone on their behalf) has read the critical finding."""
    return critical.acknowledge(order, actor, values["critical_id"], moment)


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


def clear_safety(order: ImagingOrder, actor, values: dict, moment: datetime) -> Changes:
    """A radiologist clears the order's safety stops, saying why (webapp.safety.screening)."""
    return screening.clear_stops(order, actor, values["reason"], moment)


def protocol(order: ImagingOrder, actor, values: dict, moment: datetime) -> Changes:
    """A radiologist protocols the order: the protocol, and notes for the technician."""
    return screening.set_protocol(order, actor, values["protocol"], values["protocol_notes"], moment)


def arrive(order: ImagingOrder, actor, values: dict, moment: datetime) -> Changes:
    """The front desk or the technician records that the patient is here."""
    return screening.arrive(order, actor, moment)
