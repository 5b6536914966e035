"""What each order action does to the order: its service step.

A step gets the order, the actor, the action's values (already checked by the action's fields,
see webapp.imaging.actions) and the moment, sets the order's dates, people and values, and
returns the ``changes`` recorded on the action's event. The status, ``updated_at``, the flush
and the event row are the service's (services.change_status), the same for every action.
A step may still refuse (ValidationFailed) before it changes anything.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from webapp.db_types import clinic_zone
from webapp.errors import PermissionDenied, StationConflict, TransitionNotAllowed, ValidationFailed
from webapp.extensions import db
from webapp.imaging import booking
from webapp.imaging.models import ImagingOrder
from webapp.imaging.rules import MAX_NOTES_LENGTH, check_booking_time
from webapp.reporting import claims, cosign, critical, drafts
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
    A time in the past is refused (rules.check_booking_time), measured from ``moment``; so is a
    time in the scanner's downtime or over another booking (booking.check_free, unless
    ``allow_overlap``), a STAT or urgent booking later than its target without a ``reason``, and
    an order with a safety stop not cleared (webapp.safety.screening)."""
    screening.check_bookable(order)
    errors: dict[str, str] = {}
    when = values["scheduled_date"]
    check_booking_time(when, moment, errors)
    late = booking.check_target(order, when, values.get("reason"), errors) if not errors else False
    if errors:
        raise ValidationFailed(errors)
    changes: Changes = booking.check_free(order, values["station_ae"], when,
                                          allow_overlap=bool(values.get("allow_overlap")))
    if values["station_ae"] != order.scheduled_station_ae:
        changes["station_ae"] = {"from": order.scheduled_station_ae, "to": values["station_ae"]}
    changes["scheduled_date"] = {"from": jsonable(order.scheduled_date), "to": jsonable(when)}
    if values.get("reason"):
        changes["reason"] = values["reason"]
    if late:
        changes["late"] = True
    order.scheduled_date = when
    order.scheduled_by = actor.user_id
    order.scheduled_station_ae = values["station_ae"]
    return changes


def unbook(order: ImagingOrder, actor, values: dict, moment: datetime) -> Changes:
    """Take the booking back (the order waits to be booked again), with the reason."""
    changes: Changes = {"reason": values["reason"], "scheduled_date": {"from": jsonable(order.scheduled_date), "to": None},
                        "station_ae": {"from": order.scheduled_station_ae, "to": None}}
    order.scheduled_date = None
    order.scheduled_station_ae = None
    return changes


def start(order: ImagingOrder, actor, values: dict, moment: datetime) -> Changes:
    """One scan at a time per scanner: a person starting a second one is refused (409). A scanner
    (MPPS) is the ground truth of what it does: its start is taken and the overlap recorded. Not
    before the order's protocol, nor with a safety stop not cleared (webapp.safety.screening)."""
    screening.check_startable(order)
    scanner_ae = getattr(actor, "scanner_ae", None)
    station_ae = scanner_ae or order.scheduled_station_ae
    busy = booking.scanning_on(station_ae, exclude=order.id)
    changes: Changes = {}
    if busy and scanner_ae is None:
        raise StationConflict(
            f"{station_ae} is scanning {busy[0].accession_number} (started "
            f"{busy[0].performed_date.astimezone(clinic_zone()):%H:%M}); complete it, or undo its start, first.",
            [booking.describe(o) | {"performed_date": jsonable(o.performed_date)} for o in busy])
    if busy:
        changes["while_scanning"] = {"station_ae": station_ae, "orders": [o.accession_number for o in busy]}
    order.performed_date = moment
    order.performing_technician = actor.user_id
    return changes


UNDO_START_WINDOW = timedelta(minutes=5)


def _started_by_scanner(order: ImagingOrder) -> bool:
    from webapp.dicom.models import PerformedProcedureStep

    return db.session.scalar(db.select(PerformedProcedureStep.sop_instance_uid).where(
        PerformedProcedureStep.order_id == order.id).limit(1)) is not None


def undo_start(order: ImagingOrder, actor, values: dict, moment: datetime) -> Changes:
    """A scan started by mistake goes back to scheduled: by a technician (the tablet is shared in
    the room) within UNDO_START_WINDOW of the start; never by a scanner (MPPS), nor a scanner's own
    start, which is what the scanner did."""
    if getattr(actor, "scanner_ae", None) is not None or _started_by_scanner(order):
        raise TransitionNotAllowed(f"Order {order.accession_number} was started by its scanner: "
                                   "complete or discontinue it there.")
    if order.performed_date is None or moment - order.performed_date > UNDO_START_WINDOW:
        raise TransitionNotAllowed(f"The scan of order {order.accession_number} started more than "
                                   f"{int(UNDO_START_WINDOW.total_seconds() // 60)} minutes ago: too late to undo.")
    changes: Changes = {"performed_date": {"from": jsonable(order.performed_date), "to": None}}
    order.performed_date = None
    order.performing_technician = None
    return changes


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
    if cosign.is_trainee(cosign.user_of(actor)):
        raise PermissionDenied("A trainee's signature makes a preliminary report: sign it in the report editor "
                               "(or POST …/report/sign); an attending co-signs it.")
    if cosign.is_preliminary(order):
        raise TransitionNotAllowed(f"Order {order.accession_number} has a trainee's preliminary report: co-sign it.")
    note = critical.critical_note(values)
    errors: dict[str, str] = {}
    template_code = drafts.check_template(values["template_code"], errors)
    if errors:
        raise ValidationFailed(errors)
    order.findings, order.impression = values["findings"], values["impression"]
    order.report_text = values["report_text"]
    with db.session.no_autoflush:
        draft = drafts.get_draft(order)
    answers = draft.field_values if draft is not None else None
    if values["technique"] or values["comparison"] or template_code or answers:
        details = ReportDetails(order_id=order.id, technique=values["technique"], comparison=values["comparison"],
                                template_code=template_code, field_values=answers)
        db.session.add(details)
        order.report_details = details  # also when the order's (empty) details were read before
    order.reported_date = moment
    order.reporting_radiologist = actor.user_id
    drafts.discard(order)
    claims.end(order)
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


def preliminary(order: ImagingOrder, actor, values: dict, moment: datetime) -> Changes:
    """A trainee signs a preliminary report (webapp.reporting.cosign)."""
    return cosign.preliminary_step(order, actor, values, moment)


def cosign_report(order: ImagingOrder, actor, values: dict, moment: datetime) -> Changes:
    """An attending co-signs a trainee's preliminary report (webapp.reporting.cosign)."""
    return cosign.cosign_step(order, actor, values, moment)


def take_over(order: ImagingOrder, actor, values: dict, moment: datetime) -> Changes:
    """An attending or an administrator takes over a study another radiologist is reading."""
    return claims.take_over_step(order, actor, values, moment)


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
