"""The imaging service layer: every change to an order goes through these functions.

They check the rules (reference data, the transition table, the version), change the order,
write its event row, and flush. They never commit: the caller (a view, the API, the CLI, the
DICOM service) commits once, and the events queued in ``session.info`` are published after
that commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import literal, select
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.exc import StaleDataError

from webapp.audit.chain import lock_order_writes
from webapp.auth.models import User
from webapp.db_types import utcnow
from webapp.extensions import db
from webapp.imaging import workflow
from webapp.imaging.errors import (
    NotFound,
    PermissionDenied,
    StaleVersion,
    TransitionNotAllowed,
    ValidationFailed,
)
from webapp.imaging.models import (
    LATERALITIES,
    PRIORITIES,
    BodyPart,
    ImagingModality,
    ImagingOrder,
    OrderEvent,
    Procedure,
    Station,
)
from webapp.imaging.numbering import assign_numbers, new_study_instance_uid
from webapp.patients.models import Patient
from webapp.visits.models import Diagnosis, Visit

PENDING_EVENTS_KEY = "pending_order_events"

# Longest accepted free text; the API schemas and forms use the same numbers.
TEXT_LIMITS = {
    "clinical_indication": 2000,
    "clinical_history": 4000,
    "special_instructions": 2000,
    "notes": 4000,
    "note": 4000,
    "findings": 20000,
    "impression": 5000,
    "report_text": 50000,
    "reason": 1000,
}
EDITABLE_FIELDS = (
    "modality",
    "body_part",
    "procedure_code",
    "laterality",
    "clinical_indication",
    "clinical_history",
    "special_instructions",
    "priority",
    "diagnosis_id",
)


@dataclass
class Actor:
    """Who changes an order: a signed-in user, or a system such as a scanner over DICOM."""

    role: str
    label: str
    user: User | None = None

    @classmethod
    def of(cls, user: User) -> Actor:
        return cls(role=user.role, label=user.display_name, user=user)

    @property
    def user_id(self) -> uuid.UUID | None:
        return self.user.id if self.user else None


def _actor(who: User | Actor) -> Actor:
    return who if isinstance(who, Actor) else Actor.of(who)


# ---------------------------------------------------------------------------- validation


def _clean_text(value: Any, name: str, errors: dict[str, str], *, required: bool = False) -> str | None:
    if value is None:
        if required:
            errors[name] = "This field is required."
        return None
    if not isinstance(value, str):
        errors[name] = "Must be text."
        return None
    value = value.strip()
    if not value:
        if required:
            errors[name] = "This field is required."
        return None
    limit = TEXT_LIMITS.get(name)
    if limit and len(value) > limit:
        errors[name] = f"At most {limit} characters (got {len(value)})."
        return None
    return value


def _parse_uuid(value: Any) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


_ONE_ROW = select(literal(1).label("one")).subquery()


def _catalogue_rows(
    modality_code: Any, body_part_code: Any, procedure_code: Any
) -> tuple[ImagingModality | None, BodyPart | None, Procedure | None]:
    """The modality, body part and procedure rows named (None where unknown), in one query."""
    codes = [code if isinstance(code, str) and code else None
             for code in (modality_code, body_part_code, procedure_code)]
    if not any(codes):
        return None, None, None
    row = db.session.execute(
        select(ImagingModality, BodyPart, Procedure)
        .select_from(_ONE_ROW)
        .outerjoin(ImagingModality, ImagingModality.code == codes[0])
        .outerjoin(BodyPart, BodyPart.code == codes[1])
        .outerjoin(Procedure, Procedure.code == codes[2])
    ).one()
    return row[0], row[1], row[2]


def _check_clinical_choice(
    errors: dict[str, str], modality_code: Any, body_part_code: Any, procedure_code: Any, laterality: Any
) -> tuple[ImagingModality | None, BodyPart | None, Procedure | None, str | None]:
    """Modality active, body part valid for it, procedure consistent with both, laterality right."""
    modality, body_part, procedure = _catalogue_rows(modality_code, body_part_code, procedure_code)
    if modality is None:
        errors["modality"] = "Unknown modality."
    elif not modality.is_active:
        errors["modality"] = f"{modality.name} is not offered at the moment."
        modality = None
    if body_part is None:
        errors["body_part"] = "Unknown body part."
    elif modality is not None and modality.code not in body_part.modalities:
        errors["body_part"] = f"{body_part.name} cannot be imaged with {modality.name}."
        body_part = None
    if procedure_code not in (None, ""):
        if procedure is None or not procedure.is_active:
            errors["procedure_code"] = "Unknown procedure code."
            procedure = None
        elif modality is not None and body_part is not None and (
            procedure.modality != modality.code or procedure.body_part != body_part.code
        ):
            errors["procedure_code"] = f"{procedure.name} does not match the modality and body part."
            procedure = None
    if laterality in ("", None):
        laterality = None
    if laterality is not None and laterality not in LATERALITIES:
        errors["laterality"] = "Must be left, right or bilateral."
    elif body_part is not None:
        needs_side = procedure.requires_laterality if procedure else body_part.is_paired
        if laterality is None and needs_side:
            errors["laterality"] = f"Say which side: {body_part.name} is paired."
        elif laterality is not None and not body_part.is_paired:
            errors["laterality"] = f"{body_part.name} has no sides; leave laterality empty."
    return modality, body_part, procedure, laterality


def _check_priority(value: Any, errors: dict[str, str]) -> str | None:
    if value in (None, ""):
        return "routine"
    if value not in PRIORITIES:
        errors["priority"] = "Must be routine, urgent or stat."
        return None
    return value


def _check_diagnosis(value: Any, visit: Visit | None, errors: dict[str, str]) -> Diagnosis | None:
    if value in (None, ""):
        return None
    diagnosis = db.session.get(Diagnosis, _parse_uuid(value)) if _parse_uuid(value) else None
    if diagnosis is None or (visit is not None and diagnosis.visit_id != visit.id):
        errors["diagnosis_id"] = "Not a diagnosis of this visit."
        return None
    return diagnosis


def _check_station(value: Any, order: ImagingOrder, errors: dict[str, str]) -> Station | None:
    """An active station (by AE title, any case) whose modality is the order's."""
    ae_title = value.strip().upper() if isinstance(value, str) else None
    station = (
        db.session.scalar(db.select(Station).where(Station.ae_title == ae_title)) if ae_title else None
    )
    if station is None:
        errors["station_ae"] = "Unknown station."
    elif not station.is_active:
        errors["station_ae"] = f"Station {station.ae_title} is out of service."
    elif station.modality != order.modality:
        errors["station_ae"] = f"Station {station.ae_title} is not a {order.modality_ref.name} scanner."
    else:
        return station
    return None


def _check_version(order: ImagingOrder, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != order.version:
        raise StaleVersion(
            f"Order {order.accession_number} was changed by someone else "
            f"(you had version {expected_version}, it is now {order.version}).",
            current_version=order.version,
        )


def _flush(order: ImagingOrder) -> None:
    """Flush; a concurrent writer that got there first turns into StaleVersion."""
    accession_number = order.accession_number  # readable before a failed flush deactivates the session
    try:
        db.session.flush()
    except StaleDataError as exc:
        raise StaleVersion(f"Order {accession_number} was changed by someone else at the same moment.") from exc


# ---------------------------------------------------------------------------- events


def record_event(
    order: ImagingOrder,
    actor: Actor,
    event_type: str,
    *,
    from_status: str | None = None,
    to_status: str | None = None,
    changes: dict | None = None,
    note: str | None = None,
    at: datetime | None = None,
) -> OrderEvent:
    """Append the order's event row (same transaction) and queue it for publishing after commit."""
    event = OrderEvent(
        order_id=order.id,
        event_type=event_type,
        from_status=from_status,
        to_status=to_status if to_status is not None else order.status,
        order_version=order.version,
        actor_id=actor.user_id,
        actor_label=actor.label[:128],
        actor_role=actor.role,
        created_at=at or utcnow(),
        changes=changes or {},
        note=note,
    )
    db.session.add(event)
    db.session.info.setdefault(PENDING_EVENTS_KEY, []).append(event)
    return event


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


# ---------------------------------------------------------------------------- create and edit


def create_order(
    who: User | Actor,
    *,
    patient_id: Any,
    visit_id: Any,
    modality: Any,
    body_part: Any,
    clinical_indication: Any,
    procedure_code: Any = None,
    laterality: Any = None,
    clinical_history: Any = None,
    special_instructions: Any = None,
    priority: Any = "routine",
    diagnosis_id: Any = None,
    notes: Any = None,
    now: datetime | None = None,
) -> ImagingOrder:
    """Place a new order from a visit: status ``ordered``, numbers and Study Instance UID assigned."""
    actor = _actor(who)
    if not workflow.may_create(actor.role):
        raise PermissionDenied("Only doctors place imaging orders.")
    errors: dict[str, str] = {}
    # The visit with its patient in one query; another patient only when the two do not match.
    visit = db.session.get(Visit, _parse_uuid(visit_id), options=[joinedload(Visit.patient)]) \
        if _parse_uuid(visit_id) else None
    patient_key = _parse_uuid(patient_id)
    if visit is not None and visit.patient_id == patient_key:
        patient = visit.patient
    else:
        patient = db.session.get(Patient, patient_key) if patient_key else None
    if patient is None:
        raise NotFound(f"No patient with id {patient_id}.")
    if visit is None:
        raise NotFound(f"No visit with id {visit_id}.")
    if visit.patient_id != patient.id:
        errors["visit_id"] = "This visit belongs to another patient."
    modality_row, body_part_row, procedure, side = _check_clinical_choice(
        errors, modality, body_part, procedure_code, laterality
    )
    clean = {
        name: _clean_text(value, name, errors, required=(name == "clinical_indication"))
        for name, value in (
            ("clinical_indication", clinical_indication),
            ("clinical_history", clinical_history),
            ("special_instructions", special_instructions),
            ("notes", notes),
        )
    }
    priority_value = _check_priority(priority, errors)
    diagnosis = _check_diagnosis(diagnosis_id, visit, errors)
    if errors:
        raise ValidationFailed(errors)

    moment = now or utcnow()
    order = ImagingOrder(
        id=uuid.uuid4(),
        version=1,
        patient_id=patient.id,
        visit_id=visit.id,
        ordered_by=actor.user_id,
        diagnosis_id=diagnosis.id if diagnosis else None,
        modality=modality_row.code,
        body_part=body_part_row.code,
        procedure_code=procedure.code if procedure else None,
        procedure_name=procedure.name if procedure else None,
        laterality=side,
        status="ordered",
        priority=priority_value,
        ordered_date=moment,
        study_instance_uid=new_study_instance_uid(),
        created_at=moment,
        updated_at=moment,
        **clean,
    )
    db.session.add(order)
    record_event(order, actor, "created", to_status="ordered", at=moment, changes={
        "modality": order.modality, "body_part": order.body_part, "priority": order.priority,
        "procedure_code": order.procedure_code, "laterality": order.laterality,
    })
    # The year's number is taken last: its counter row stays locked until the commit, so every
    # other order waits for this one from here on. Only the two inserts and the commit follow.
    # The audit chain's lock comes first (webapp.audit.chain): one lock order for all writers.
    with db.session.no_autoflush:
        lock_order_writes(db.session)
        order.accession_number, order.order_number = assign_numbers(db.session, moment)
    db.session.flush()
    return order


def update_order(
    who: User | Actor, order: ImagingOrder, changes: dict[str, Any], *, expected_version: int | None = None
) -> ImagingOrder:
    """Edit the order's clinical details while it is ``ordered`` or ``scheduled``."""
    actor = _actor(who)
    _check_version(order, expected_version)
    if actor.role not in workflow.EDIT_ROLES:
        raise PermissionDenied("Only doctors and administrators edit orders.")
    if order.status not in workflow.EDITABLE_STATUSES:
        raise TransitionNotAllowed(f"A {order.status_label.lower()} order can no longer be edited.")
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed({name: "This field cannot be edited." for name in sorted(unknown)})
    errors: dict[str, str] = {}
    merged = {name: changes.get(name, getattr(order, name)) for name in EDITABLE_FIELDS}
    _, _, procedure, side = _check_clinical_choice(
        errors, merged["modality"], merged["body_part"], merged["procedure_code"], merged["laterality"]
    )
    new_values: dict[str, Any] = {"laterality": side}
    for name in ("clinical_indication", "clinical_history", "special_instructions"):
        new_values[name] = _clean_text(merged[name], name, errors, required=(name == "clinical_indication"))
    new_values["priority"] = _check_priority(merged["priority"], errors)
    diagnosis = _check_diagnosis(merged["diagnosis_id"], order.visit, errors)
    if errors:
        raise ValidationFailed(errors)
    new_values.update(
        modality=merged["modality"],
        body_part=merged["body_part"],
        procedure_code=procedure.code if procedure else None,
        procedure_name=procedure.name if procedure else None,
        diagnosis_id=diagnosis.id if diagnosis else None,
    )
    if order.scheduled_station_ae and new_values["modality"] != order.modality:
        # The booked scanner is of the old modality: the scheduler books a new one.
        new_values["scheduled_station_ae"] = None
    diff = {}
    for name, value in new_values.items():
        old = getattr(order, name)
        if old != value:
            diff[name] = {"from": _jsonable(old), "to": _jsonable(value)}
            setattr(order, name, value)
    if not diff:
        return order
    order.updated_at = utcnow()
    _flush(order)
    record_event(order, actor, "updated", from_status=order.status, changes=diff)
    _flush(order)
    return order


def add_note(
    who: User | Actor, order: ImagingOrder, text: Any, *, expected_version: int | None = None
) -> ImagingOrder:
    """Append a note to the order (kept in ``notes`` and as a timeline entry)."""
    actor = _actor(who)
    _check_version(order, expected_version)
    if not workflow.may_add_note(actor.role, order.status):
        raise PermissionDenied("Your role cannot add notes to orders.")
    errors: dict[str, str] = {}
    note = _clean_text(text, "note", errors, required=True)
    if errors:
        raise ValidationFailed(errors)
    stamp = utcnow()
    line = f"[{stamp:%Y-%m-%d %H:%M} UTC, {actor.label}] {note}"
    combined = f"{order.notes}\n{line}" if order.notes else line
    if len(combined) > 100_000:
        raise ValidationFailed({"note": "The order has too many notes; ask an administrator."})
    order.notes = combined
    order.updated_at = stamp
    _flush(order)
    record_event(order, actor, "note", from_status=order.status, note=note, at=stamp)
    _flush(order)
    return order


# ---------------------------------------------------------------------------- status changes


def change_status(
    who: User | Actor,
    order: ImagingOrder,
    to_status: str,
    *,
    expected_version: int | None = None,
    scheduled_date: datetime | None = None,
    findings: Any = None,
    impression: Any = None,
    report_text: Any = None,
    reason: Any = None,
    note: Any = None,
    number_of_images: Any = None,
    station_ae: Any = None,
    now: datetime | None = None,
) -> ImagingOrder:
    """Move the order along the transition table, setting the step's dates and people.

    Scheduling may book a station (``station_ae``, an AE title of an active station of the
    order's modality); None keeps the booked one, "" clears it.
    """
    actor = _actor(who)
    _check_version(order, expected_version)
    from_status = order.status
    transition = workflow.find_transition(from_status, to_status)
    if transition is None:
        raise TransitionNotAllowed(
            f"Order {order.accession_number} is {order.status_label.lower()}; "
            f"it cannot become {to_status.replace('_', ' ')}."
        )
    if actor.role not in transition.roles:
        raise PermissionDenied(f"Your role ({actor.role}) cannot {transition.action} orders.")

    errors: dict[str, str] = {}
    note_text = _clean_text(note, "note", errors)
    moment = now or utcnow()
    changes: dict[str, Any] = {}
    scheduling = transition.action in ("schedule", "reschedule")
    station_to: str | None = order.scheduled_station_ae
    if station_ae not in (None, ""):
        if scheduling:
            station = _check_station(station_ae, order, errors)
            station_to = station.ae_title if station else station_to
        else:
            errors["station_ae"] = "A station is booked only when scheduling."
    elif station_ae == "" and scheduling:
        station_to = None
    if station_to != order.scheduled_station_ae:
        changes["station_ae"] = {"from": order.scheduled_station_ae, "to": station_to}
    if transition.action in ("schedule", "reschedule"):
        if not isinstance(scheduled_date, datetime):
            errors["scheduled_date"] = "A date and time is required to schedule."
        elif scheduled_date.tzinfo is None:
            errors["scheduled_date"] = "The date and time needs a time zone."
        else:
            changes["scheduled_date"] = {"from": _jsonable(order.scheduled_date), "to": _jsonable(scheduled_date)}
    elif transition.action == "complete" and number_of_images not in (None, ""):
        if isinstance(number_of_images, bool) or not isinstance(number_of_images, int) or not (
            0 <= number_of_images <= 100_000
        ):
            errors["number_of_images"] = "A whole number from 0 to 100000."
    elif transition.action == "report":
        findings = _clean_text(findings, "findings", errors, required=True)
        impression = _clean_text(impression, "impression", errors, required=True)
        report_text = _clean_text(report_text, "report_text", errors)
    elif transition.action == "cancel":
        reason = _clean_text(reason, "reason", errors, required=True)
    if errors:
        raise ValidationFailed(errors)

    if transition.action in ("schedule", "reschedule"):
        order.scheduled_date = scheduled_date
        order.scheduled_by = actor.user_id
        order.scheduled_station_ae = station_to
    elif transition.action == "start":
        order.performed_date = moment
        order.performing_technician = actor.user_id
    elif transition.action == "complete":
        order.completed_date = moment
        if order.performing_technician is None:
            order.performing_technician = actor.user_id
        if number_of_images not in (None, ""):
            order.number_of_images = number_of_images
            changes["number_of_images"] = number_of_images
    elif transition.action == "report":
        order.findings, order.impression, order.report_text = findings, impression, report_text
        order.reported_date = moment
        order.reporting_radiologist = actor.user_id
        changes["report"] = {"findings": findings, "impression": impression, "report_text": report_text}
    elif transition.action == "cancel":
        order.cancellation_reason = reason
        order.cancelled_date = moment
        order.cancelled_by = actor.user_id
        changes["reason"] = reason
    order.status = to_status
    order.updated_at = moment
    _flush(order)
    record_event(
        order, actor, transition.action, from_status=from_status, to_status=to_status,
        changes=changes, note=note_text, at=moment,
    )
    _flush(order)
    return order


def apply_action(who: User | Actor, order: ImagingOrder, action: str, **kwargs: Any) -> ImagingOrder:
    """Take a named action (a button on a page): look its transition up and change the status."""
    transition = workflow.transition_for_action(order.status, action)
    if transition is None:
        raise TransitionNotAllowed(f"Order {order.accession_number} is {order.status_label.lower()}: cannot {action}.")
    return change_status(who, order, transition.to_status, **kwargs)


def schedule_order(who, order, scheduled_date: datetime, **kw) -> ImagingOrder:
    return change_status(who, order, "scheduled", scheduled_date=scheduled_date, **kw)


def start_order(who, order, **kw) -> ImagingOrder:
    return change_status(who, order, "in_progress", **kw)


def complete_order(who, order, **kw) -> ImagingOrder:
    return change_status(who, order, "completed", **kw)


def report_order(who, order, *, findings, impression, report_text=None, **kw) -> ImagingOrder:
    return change_status(who, order, "reported", findings=findings, impression=impression, report_text=report_text, **kw)


def cancel_order(who, order, reason, **kw) -> ImagingOrder:
    return change_status(who, order, "cancelled", reason=reason, **kw)


def record_discontinued(who: User | Actor, order: ImagingOrder, reason: str | None = None) -> ImagingOrder:
    """A scanner stopped the procedure step (DICOM MPPS DISCONTINUED): noted, status unchanged."""
    actor = _actor(who)
    if order.status != "in_progress":
        raise TransitionNotAllowed(f"Order {order.accession_number} is not in progress.")
    order.updated_at = utcnow()
    _flush(order)
    record_event(order, actor, "discontinued", from_status=order.status, note=reason or "Procedure step discontinued")
    _flush(order)
    return order


def record_refused_step(who: User | Actor, order: ImagingOrder, note: str) -> ImagingOrder:
    """A scanner's procedure step was refused (DICOM MPPS for another patient): noted, status unchanged.

    The entry changes the order's timeline, so the order's version moves on like any change.
    """
    actor = _actor(who)
    order.updated_at = utcnow()
    _flush(order)
    record_event(order, actor, "mpps_refused", from_status=order.status, note=note)
    _flush(order)
    return order


def allowed_actions_for(user: User | Actor, order: ImagingOrder) -> list[str]:
    """What the user may do to this order now (buttons, API links)."""
    return workflow.allowed_actions(_actor(user).role, order.status)
