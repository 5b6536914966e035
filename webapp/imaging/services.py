"""The imaging service layer: every change to an order goes through these functions.

They check the rules (webapp.imaging.rules: reference data, the version; the order actions of
webapp.imaging.actions: who may do what, and each action's values), change the order, write its
event row, and flush. They never commit: the caller (a view, the API, the CLI, the
DICOM service) commits once, and the events queued in ``session.info`` are published after
that commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import joinedload
from sqlalchemy.orm.exc import StaleDataError

from webapp.audit.locking import lock_order_writes
from webapp.auth.models import User
from webapp.db_types import utcnow
from webapp.errors import (
    NotFound,
    PermissionDenied,
    StaleVersion,
    TransitionNotAllowed,
    ValidationFailed,
)
from webapp.extensions import db
from webapp.imaging import rules, workflow
from webapp.imaging.actions import ACTIONS, OrderAction, check_values
from webapp.imaging.models import ImagingOrder, OrderEvent
from webapp.imaging.numbering import assign_numbers, new_study_instance_uid
from webapp.imaging.steps import jsonable
from webapp.patients.models import Patient
from webapp.safety import screening
from webapp.visits.models import Visit

PENDING_EVENTS_KEY = "pending_order_events"


@dataclass
class Actor:
    """Who changes an order: a signed-in user, or a system such as a scanner over DICOM."""

    role: str
    label: str
    user: User | None = None
    scanner_ae: str | None = None  # a scanner over DICOM MPPS: the ground truth of what it does

    @classmethod
    def of(cls, user: User) -> Actor:
        return cls(role=user.role, label=user.display_name, user=user)

    @property
    def user_id(self) -> uuid.UUID | None:
        return self.user.id if self.user else None


def _actor(who: User | Actor) -> Actor:
    return who if isinstance(who, Actor) else Actor.of(who)


def _record_change(order: ImagingOrder, actor: Actor, event_type: str, *, at: datetime | None = None,
                   **event: Any) -> ImagingOrder:
    """The end of every change: the order touched (its version moves on) and flushed, then its
    event row written (it carries the new version) and flushed."""
    moment = at or utcnow()
    order.updated_at = moment
    _flush(order)
    record_event(order, actor, event_type, at=moment, **event)
    _flush(order)
    return order


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
    contrast: Any = None,
    now: datetime | None = None,
) -> ImagingOrder:
    """Place a new order from a visit: status ``ordered``, numbers and Study Instance UID assigned."""
    actor = _actor(who)
    if not workflow.may_create(actor.role):
        raise PermissionDenied("Only doctors place imaging orders.")
    errors: dict[str, str] = {}
    # The visit with its patient in one query; another patient only when the two do not match.
    visit = db.session.get(Visit, rules.parse_uuid(visit_id), options=[joinedload(Visit.patient)]) \
        if rules.parse_uuid(visit_id) else None
    patient_key = rules.parse_uuid(patient_id)
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
    modality_row, body_part_row, procedure, side = rules.check_clinical_choice(
        errors, modality, body_part, procedure_code, laterality
    )
    clean = {
        name: rules.clean_text(value, name, errors, required=(name == "clinical_indication"))
        for name, value in (
            ("clinical_indication", clinical_indication),
            ("clinical_history", clinical_history),
            ("special_instructions", special_instructions),
            ("notes", notes),
        )
    }
    priority_value = rules.check_priority(priority, errors)
    diagnosis = rules.check_diagnosis(diagnosis_id, visit, errors)
    contrast_value = rules.check_contrast(contrast, screening.default_contrast(procedure), errors)
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
        contrast=contrast_value,
        **clean,
    )
    screening.screen(order, procedure, patient)
    db.session.add(order)
    record_event(order, actor, "created", to_status="ordered", at=moment, changes={
        "modality": order.modality, "body_part": order.body_part, "priority": order.priority,
        "procedure_code": order.procedure_code, "laterality": order.laterality,
        "contrast": order.contrast, "safety_alerts": order.safety_alerts,
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
    rules.check_version(order, expected_version)
    if actor.role not in workflow.EDIT_ROLES:
        raise PermissionDenied("Only doctors and administrators edit orders.")
    if order.status not in workflow.EDITABLE_STATUSES:
        raise TransitionNotAllowed(f"A {order.status_label.lower()} order can no longer be edited.")
    unknown = set(changes) - set(rules.EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed({name: "This field cannot be edited." for name in sorted(unknown)})
    errors: dict[str, str] = {}
    merged = {name: changes.get(name, getattr(order, name)) for name in rules.EDITABLE_FIELDS}
    _, _, procedure, side = rules.check_clinical_choice(
        errors, merged["modality"], merged["body_part"], merged["procedure_code"], merged["laterality"]
    )
    new_values: dict[str, Any] = {"laterality": side}
    for name in ("clinical_indication", "clinical_history", "special_instructions"):
        new_values[name] = rules.clean_text(merged[name], name, errors, required=(name == "clinical_indication"))
    new_values["priority"] = rules.check_priority(merged["priority"], errors)
    diagnosis = rules.check_diagnosis(merged["diagnosis_id"], order.visit, errors)
    # Contrast not given: the new procedure's default when the procedure changes, else as it was.
    procedure_changed = (procedure.code if procedure else None) != order.procedure_code
    contrast_default = screening.default_contrast(procedure) if procedure_changed else order.contrast
    new_values["contrast"] = rules.check_contrast(changes.get("contrast"), contrast_default, errors)
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
    diff = _set_changed(order, new_values)
    if not diff:
        return order
    old_alerts = order.safety_alerts
    screening.screen(order, procedure)
    if order.safety_alerts != old_alerts:
        diff["safety_alerts"] = {"from": old_alerts, "to": order.safety_alerts}
    return _record_change(order, actor, ACTIONS["edit"].event_type, from_status=order.status, changes=diff)


def _set_changed(order: ImagingOrder, new_values: dict[str, Any]) -> dict[str, dict]:
    """Set the values that differ; {name: {"from": old, "to": new}} of those."""
    diff = {}
    for name, value in new_values.items():
        old = getattr(order, name)
        if old != value:
            diff[name] = {"from": jsonable(old), "to": jsonable(value)}
            setattr(order, name, value)
    return diff


# ---------------------------------------------------------------------------- order actions


def add_note(
    who: User | Actor, order: ImagingOrder, text: Any, *, expected_version: int | None = None
) -> ImagingOrder:
    """Append a note to the order (kept in ``notes`` and as a timeline entry)."""
    return apply_action(who, order, "note", expected_version=expected_version, note=text)


def change_status(
    who: User | Actor, order: ImagingOrder, to_status: str, *,
    expected_version: int | None = None, now: datetime | None = None, **values: Any,
) -> ImagingOrder:
    """Move the order along the transition table, with the values its action takes.

    ``values`` are the action's fields (actions.ACTIONS): ``scheduled_date`` and ``station_ae``
    (an AE title of an active station of the order's modality; None keeps the booked one, ""
    clears it) to schedule, ``number_of_images`` to complete, ``findings``, ``impression`` and
    ``report_text`` to report, ``reason`` to cancel, and a ``note`` on any step.
    """
    rules.check_version(order, expected_version)
    transition = workflow.find_transition(order.status, to_status)
    if transition is None:
        raise TransitionNotAllowed(
            f"Order {order.accession_number} is {order.status_label.lower()}; "
            f"it cannot become {to_status.replace('_', ' ')}."
        )
    return _take(_actor(who), order, ACTIONS[transition.action], to_status, values, now)


def apply_action(
    who: User | Actor, order: ImagingOrder, action: str, *,
    expected_version: int | None = None, now: datetime | None = None, **values: Any,
) -> ImagingOrder:
    """Take a named action (a button on a page, the tablet, a note) on the order as it is now."""
    definition = ACTIONS.get(action)
    to_status = definition.target(order.status) if definition and definition.step else None
    if to_status is None:
        raise TransitionNotAllowed(f"Order {order.accession_number} is {order.status_label.lower()}: cannot {action}.")
    rules.check_version(order, expected_version)
    return _take(_actor(who), order, definition, to_status, values, now)


def _take(
    actor: Actor, order: ImagingOrder, action: OrderAction, to_status: str, given: dict, now: datetime | None
) -> ImagingOrder:
    """The one road of every order action: role, values, the action's step, the event."""
    if actor.role not in action.roles:
        raise PermissionDenied(action.denied_text.format(role=actor.role, action=action.name))
    values = check_values(action, order, given)
    moment = now or utcnow()
    from_status = order.status
    changes = action.step(order, actor, values, moment)
    order.status = to_status
    return _record_change(
        order, actor, action.event_type, at=moment, from_status=from_status, to_status=to_status,
        changes=changes, note=values.get("note"),
    )


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
    if order.status != "in_progress":
        raise TransitionNotAllowed(f"Order {order.accession_number} is not in progress.")
    return _record_change(
        order, _actor(who), "discontinued", from_status=order.status, note=reason or "Procedure step discontinued"
    )


def record_refused_step(who: User | Actor, order: ImagingOrder, note: str) -> ImagingOrder:
    """A scanner's procedure step was refused (DICOM MPPS for another patient): noted, status unchanged.

    The entry changes the order's timeline, so the order's version moves on like any change.
    """
    return _record_change(order, _actor(who), "mpps_refused", from_status=order.status, note=note)


def record_refusal(who: User | Actor, order: ImagingOrder, event_type: str, note: str) -> ImagingOrder:
    """A message about the order was refused (an HL7 cancel naming another patient, an MPPS step
    from a station of another modality): noted on the timeline, status and fields unchanged."""
    return _record_change(order, _actor(who), event_type, from_status=order.status, note=note)


def move_to_patient(who: User | Actor, order: ImagingOrder, patient_id, note: str) -> ImagingOrder:
    """ADT^A40 merged the order's patient into another: the order now belongs to the survivor
    (its visit moves with it, webapp.hl7.adt); the timeline says from whom to whom."""
    before = str(order.patient_id)
    order.patient_id = patient_id
    return _record_change(order, _actor(who), "patient_merged", from_status=order.status, note=note,
                          changes={"patient_id": {"from": before, "to": str(patient_id)}})


def record_images_received(who: User | Actor, order: ImagingOrder, changes: dict, note: str | None = None) -> ImagingOrder:
    """The PACS received the order's images (webapp.pacs): a timeline entry, status unchanged.

    ``changes`` holds at least ``series`` and ``instances`` (actions.OTHER_EVENTS describes it).
    """
    actor = _actor(who)
    order.updated_at = utcnow()
    _flush(order)
    record_event(order, actor, "images_received", from_status=order.status, changes=changes, note=note)
    _flush(order)
    return order


def record_study_refused(who: User | Actor, order: ImagingOrder, note: str, changes: dict) -> ImagingOrder:
    """A study of another patient was refused for this order (webapp.pacs.reconcile): noted with
    both identities in ``changes``, status unchanged, nothing linked."""
    return _record_change(order, _actor(who), "study_match_refused", from_status=order.status, changes=changes,
                          note=note)


def record_study_corrected(who: User | Actor, order: ImagingOrder, note: str, changes: dict) -> ImagingOrder:
    """A held study was corrected in the PACS to this order's patient before it was matched
    (webapp.pacs.reconcile): ``changes`` holds the old and the new identity and the reason."""
    return _record_change(order, _actor(who), "study_corrected", from_status=order.status, changes=changes,
                          note=note)


def record_critical_escalated(who: User | Actor, order: ImagingOrder, changes: dict,
                              at: datetime | None = None) -> OrderEvent:
    """A critical result nobody acknowledged in time was escalated (webapp.reporting.escalation):
    a timeline entry, status unchanged; the event row. ``changes`` holds ``critical_result``,
    ``note``, ``ack_minutes`` and ``notified`` (the channels the outbox will use)."""
    moment = at or utcnow()
    order.updated_at = moment
    _flush(order)
    event = record_event(order, _actor(who), "critical_escalated", at=moment, from_status=order.status,
                         changes=changes)
    _flush(order)
    return event


def record_safety_alerts(who: User | Actor, order: ImagingOrder, alerts: list[dict]) -> ImagingOrder:
    """The patient's safety record changed the order's alerts (webapp.safety.record): a timeline
    entry and a live event, status unchanged."""
    old = order.safety_alerts
    order.safety_alerts = alerts
    return _record_change(order, _actor(who), "safety_screened", from_status=order.status,
                          changes={"safety_alerts": {"from": old, "to": alerts}})


def allowed_actions_for(user: User | Actor, order: ImagingOrder) -> list[str]:
    """What the user may do to this order now (buttons, API links)."""
    return [name for name in workflow.allowed_actions(_actor(user).role, order.status)
            if ACTIONS[name].offered_on(order)]
