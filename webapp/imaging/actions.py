"""Order actions: each thing a user (or a scanner) can do to an order, defined once.

An :class:`OrderAction` says everything about one action: its transitions (from -> to status;
none when the status stays) and the roles that may take it, the values it takes and how each is
checked (:class:`ActionField`), the page form built from those fields (forms.action_form), the
success text of the page and of the tablet, its timeline label and how its timeline entry
reads (a describe function of webapp.imaging.timeline), and its service step
(webapp.imaging.steps). Everyone reads this registry:

* workflow.py derives the transition table and "what may this role do now" from it;
* services.change_status / apply_action find the action, check the role and the version,
  check the values with the action's fields, run its step and record its event;
* the order page builds each action's form from its fields (templates/_macros/actions.html
  loops over them), shows its label and success text, and shows each timeline entry as its
  event kind says (timeline_entry; OTHER_EVENTS holds those that are no action: created,
  discontinued, mpps_refused, images_received, study_match_refused, study_corrected,
  critical_escalated);
* the technician's tablet (imaging/views/tablet.py) offers the actions that have a tablet text;
* the API (PATCH …/status) and MPPS go through services.change_status.

Adding an action (say "sign" a report, reported -> signed, radiologists):

1. write its step in steps.py: ``def sign(order, actor, values, moment) -> changes`` setting the
   order's columns (``order.signed_date = moment`` …) and returning what the event records;
2. add one ``OrderAction`` to ``ACTIONS`` below::

       OrderAction(
           "sign", "Sign report", _roles(Role.RADIOLOGIST), transitions=(("reported", "signed"),),
           fields=(ActionField("comment", "text", "Comment"),), step=steps.sign,
           success_text="Report for order {acc} signed.", timeline_label="Report signed",
       )

   (a new value also needs its length in rules.TEXT_LIMITS if it is text, and its field in the
   API's StatusChange schema; a new kind of value a check in ``_CHECKS`` below, a form field in
   forms.py and a branch in the actions macro; a tablet action its button in
   templates/imaging/worklist.html). The page
   then shows the form to radiologists on reported orders, the timeline labels the event, the
   order's ``allowed_actions`` list it, and the API's PATCH …/status takes the new status (a
   new status is added to models.STATUSES and STATUS_LABELS, whose CHECK constraint needs a
   migration; the API schema follows STATUSES). tests/transitions.py lists every transition by
   hand: add the new one there. tests/pages/test_new_action.py adds an action this way.

An action without transitions (like "note") is allowed in ``statuses`` (None: any status). An
action without a step (like "edit") is listed for permissions and the timeline; its own
service function does the work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from webapp.auth.roles import Role
from webapp.errors import ValidationFailed
from webapp.imaging import steps
from webapp.imaging.rules import (
    TEXT_LIMITS,
    check_booking,
    check_count,
    check_flag,
    check_moment,
    check_record_id,
    clean_text,
)
from webapp.imaging.timeline import (
    TimelineEntry,
    TimelineLine,
    describe_acknowledge,
    describe_addendum,
    describe_cancel,
    describe_clear_safety,
    describe_complete,
    describe_cosign,
    describe_escalation,
    describe_images,
    describe_report,
    describe_schedule,
    describe_screening,
    describe_start,
    describe_take_over,
    describe_update,
    no_details,
)


def _roles(*roles: Role) -> frozenset[str]:
    return frozenset(str(role) for role in roles)


# ---------------------------------------------------------------------------- fields

# How each kind of value is checked: (field, value, order, errors) -> the clean value.
_CHECKS: dict[str, Callable[..., Any]] = {
    "text": lambda f, value, order, errors: clean_text(value, f.name, errors, required=f.required),
    "count": lambda f, value, order, errors: check_count(value, f.name, errors),
    "moment": lambda f, value, order, errors: check_moment(value, f.name, errors),
    "booking": lambda f, value, order, errors: check_booking(value, f.name, order, errors),
    "flag": lambda f, value, order, errors: check_flag(value, f.name, errors),
    "record": lambda f, value, order, errors: check_record_id(value, f.name, errors),
}


@dataclass(frozen=True)
class ActionField:
    """A value an action takes: ``kind`` is text (trimmed, at most TEXT_LIMITS[name]), count (a
    whole number of images), moment (an aware date and time; the page shows a date and a time
    input), booking (a scanner's AE title; None keeps the booked one, "" clears it), flag (yes or
    no; a checkbox) or record (the id of a row the step looks up). ``on_form``: False for values
    set elsewhere (the report editor), which the order page's form leaves out."""

    name: str
    kind: str
    label: str
    required: bool = False
    help: str | None = None
    css_class: str = ""  # extra class of the page's input
    on_form: bool = True

    @property
    def limit(self) -> int | None:
        return TEXT_LIMITS.get(self.name)

    def check(self, value: Any, order, errors: dict[str, str]) -> Any:
        return _CHECKS[self.kind](self, value, order, errors)


NOTE = ActionField("note", "text", "Note")  # every status change may carry a note
# Values only some actions take; given to another action they are refused with this message.
ONLY_WHERE_TAKEN = {"station_ae": "A station is booked only when scheduling."}

# ---------------------------------------------------------------------------- timeline


@dataclass(frozen=True)
class EventKind:
    """An event of the order's timeline: its label, and what its entry says under it."""

    event_type: str
    timeline_label: str
    describe: Callable[[Any], TimelineEntry] = no_details


# ---------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class OrderAction:
    name: str  # the verb of the page's URL, the API's allowed_actions and the event type
    label: str  # buttons and headings
    roles: frozenset[str]
    transitions: tuple[tuple[str, str], ...] = ()  # (from status, to status)
    statuses: frozenset[str] | None = None  # without transitions: where it is allowed (None: anywhere)
    fields: tuple[ActionField, ...] = ()
    step: Callable[..., dict] | None = None  # steps.py; None: a service of its own does the work
    success_text: str | None = None  # the page's message: {acc} accession number, {when} scheduled date
    tablet_text: str | None = None  # offered on the technician's tablet, with this message ({acc})
    timeline_label: str = ""
    describe: Callable[[Any], TimelineEntry] = no_details
    event_type: str = ""  # the event it records; default its name
    denied_text: str = "Your role ({role}) cannot {action} orders."
    button_class: str = "btn-primary"
    section: str = "actions"  # where the order page shows its form: "actions", "notes" or "report"
    listed: bool = True  # False: taken on something else (a critical result), not offered on the order
    applies: Callable[[Any], bool] | None = None  # offered only on orders for which this holds (the step checks too)
    value_fields: tuple[ActionField, ...] = field(init=False)  # what the service checks, in order

    def __post_init__(self):
        object.__setattr__(self, "event_type", self.event_type or self.name)
        common = () if any(f.name == NOTE.name for f in self.fields) else (NOTE,)
        object.__setattr__(self, "value_fields", common + self.fields)

    def target(self, status: str) -> str | None:
        """The status this action leads to from ``status``; None when it cannot be taken there."""
        if not self.transitions:
            return status if self.statuses is None or status in self.statuses else None
        return next((to for from_, to in self.transitions if from_ == status), None)

    def allows(self, role: str, status: str) -> bool:
        return role in self.roles and self.target(status) is not None

    def offered_on(self, order) -> bool:
        return self.applies is None or self.applies(order)

    @property
    def event(self) -> EventKind:
        return EventKind(self.event_type, self.timeline_label, self.describe)


_SCHEDULING = (
    ActionField("scheduled_date", "moment", "Date and time", required=True),
    ActionField("station_ae", "booking", "Scanner"),
    ActionField("allow_overlap", "flag", "Book anyway, even over another booking"),
    ActionField("reason", "text", "Reason",
                help="Required when a STAT or urgent order is booked later than its target; kept on the timeline."),
)
_CANCELLERS = _roles(Role.DOCTOR, Role.ADMIN)
_BEFORE_SCAN = frozenset({"ordered", "scheduled"})
_CRITICAL = (
    ActionField("critical", "flag", "Critical finding: the ordering doctor must acknowledge it"),
    ActionField("critical_note", "text", "What is critical (a short note)"),
)
_REPORT_FIELDS = (
    ActionField("findings", "text", "Findings", required=True, css_class="report-text"),
    ActionField("impression", "text", "Impression", required=True),
    ActionField("report_text", "text", "Report text"),
    ActionField("technique", "text", "Technique", on_form=False),
    ActionField("comparison", "text", "Comparison", on_form=False),
    ActionField("template_code", "text", "Template", on_form=False),
    *_CRITICAL,
)

# Seed section 8: Ordered → Scheduled → In Progress → Completed → Reported; any open order →
# Cancelled. Rescheduling keeps the order scheduled with a new date. The order of this table
# is the order of buttons and of ``allowed_actions``.
ACTIONS: dict[str, OrderAction] = {action.name: action for action in (
    OrderAction(
        "schedule", "Schedule", _roles(Role.SCHEDULER), transitions=(("ordered", "scheduled"),),
        fields=_SCHEDULING, step=steps.schedule, success_text="Order {acc} is scheduled for {when}.",
        timeline_label="Scheduled", describe=describe_schedule,
    ),
    OrderAction(
        "reschedule", "Reschedule", _roles(Role.SCHEDULER), transitions=(("scheduled", "scheduled"),),
        fields=_SCHEDULING, step=steps.schedule, success_text="Order {acc} is rescheduled for {when}.",
        timeline_label="Rescheduled", describe=describe_schedule,
    ),
    OrderAction(
        "unbook", "Unbook", _roles(Role.SCHEDULER), transitions=(("scheduled", "ordered"),),
        fields=(ActionField("reason", "text", "Reason for unbooking", required=True),), step=steps.unbook,
        success_text="Order {acc} is unbooked: it waits to be booked again.", timeline_label="Unbooked",
        describe=describe_cancel, button_class="btn-outline-danger",
    ),
    OrderAction(
        "start", "Start scan", _roles(Role.TECHNICIAN), transitions=(("scheduled", "in_progress"),),
        step=steps.start, success_text="Scan of order {acc} started.", tablet_text="Order {acc}: scan started.",
        timeline_label="Scan started", describe=describe_start,
    ),
    OrderAction(
        # A start by mistake: the technician who started it, within steps.UNDO_START_WINDOW.
        "undo_start", "Undo start", _roles(Role.TECHNICIAN), transitions=(("in_progress", "scheduled"),),
        step=steps.undo_start, success_text="Start of order {acc} undone: it is scheduled again.",
        tablet_text="Order {acc}: start undone, it is scheduled again.", timeline_label="Start undone",
        button_class="btn-outline-secondary",
    ),
    OrderAction(
        "complete", "Complete scan", _roles(Role.TECHNICIAN), transitions=(("in_progress", "completed"),),
        fields=(ActionField("number_of_images", "count", "Number of images"),), step=steps.complete,
        success_text="Scan of order {acc} completed.", tablet_text="Order {acc}: scan completed.",
        timeline_label="Scan completed", describe=describe_complete,
    ),
    OrderAction(
        # Signing: the report editor (webapp.reporting) or this form; any draft is then deleted.
        "report", "Submit report", _roles(Role.RADIOLOGIST), transitions=(("completed", "reported"),),
        fields=_REPORT_FIELDS,
        step=steps.report, success_text="Report for order {acc} submitted.", timeline_label="Reported",
        describe=describe_report,
    ),
    OrderAction(
        # A trainee's signature (webapp.reporting.cosign): the report is preliminary, the order
        # stays completed until an attending co-signs. Taken by the report editor's signature.
        "preliminary", "Sign preliminary report", _roles(Role.RADIOLOGIST), statuses=frozenset({"completed"}),
        fields=_REPORT_FIELDS, step=steps.preliminary, success_text="Preliminary report for order {acc} signed.",
        timeline_label="Preliminary report (trainee)", describe=describe_report, listed=False,
    ),
    OrderAction(
        # An attending co-signs a trainee's preliminary report, with edits: final, order reported.
        "cosign", "Co-sign report", _roles(Role.RADIOLOGIST), transitions=(("completed", "reported"),),
        fields=(
            ActionField("findings", "text", "Findings", css_class="report-text"),
            ActionField("impression", "text", "Impression"),
            ActionField("report_text", "text", "Report text"),
            ActionField("technique", "text", "Technique", on_form=False),
            ActionField("comparison", "text", "Comparison", on_form=False),
        ),
        step=steps.cosign_report, success_text="Report for order {acc} co-signed: it is final.", timeline_label="Co-signed",
        describe=describe_cosign, denied_text="Only an attending radiologist co-signs reports.", listed=False,
    ),
    OrderAction(
        "cancel", "Cancel order", _CANCELLERS,
        transitions=tuple((status, "cancelled") for status in ("ordered", "scheduled", "in_progress", "completed")),
        fields=(ActionField("reason", "text", "Reason for cancelling", required=True),), step=steps.cancel,
        success_text="Order {acc} is cancelled.", timeline_label="Cancelled", describe=describe_cancel,
        button_class="btn-danger",
    ),
    OrderAction(
        # The order form again (views/edit_order.py, services.update_order): no step here.
        "edit", "Edit order", _roles(Role.DOCTOR, Role.ADMIN), statuses=frozenset({"ordered", "scheduled"}),
        event_type="updated", timeline_label="Details changed", describe=describe_update,
    ),
    OrderAction(
        "note", "Add note", _roles(Role.DOCTOR, Role.SCHEDULER, Role.TECHNICIAN, Role.RADIOLOGIST, Role.ADMIN),
        fields=(ActionField("note", "text", "Note", required=True),), step=steps.note,
        success_text="Note added to order {acc}.", timeline_label="Note added",
        denied_text="Your role cannot add notes to orders.", button_class="btn-outline-primary", section="notes",
    ),
    OrderAction(
        # After sign-off the report is never edited: text is added below it. The order stays reported.
        "addendum", "Add addendum", _roles(Role.RADIOLOGIST), statuses=frozenset({"reported"}),
        fields=(ActionField("addendum", "text", "Addendum", required=True), *_CRITICAL), step=steps.addendum,
        success_text="Addendum added to the report of order {acc}.", timeline_label="Addendum",
        describe=describe_addendum, denied_text="Only radiologists add addenda to reports.",
        button_class="btn-outline-primary", section="report",
    ),
    OrderAction(
        # The reading room (webapp.reporting.claims): an attending or an administrator takes a
        # study another radiologist holds, with a reason; not offered as an order's action.
        "take_over", "Take over the report", _roles(Role.RADIOLOGIST, Role.ADMIN), statuses=frozenset({"completed"}),
        fields=(ActionField("reason", "text", "Why you take the study over", required=True),),
        step=steps.take_over, success_text="You have taken over the report of order {acc}.",
        timeline_label="Report taken over", describe=describe_take_over,
        denied_text="Only an attending radiologist or an administrator takes over a study.", listed=False,
    ),
    OrderAction(
        # Taken on one critical result (webapp.reporting.critical): not offered as an order's action.
        "acknowledge", "Acknowledge", _roles(Role.DOCTOR, Role.ADMIN), statuses=frozenset({"reported"}),
        fields=(ActionField("critical_id", "record", "Critical result"),), step=steps.acknowledge,
        success_text="Critical result of order {acc} acknowledged.", timeline_label="Critical result acknowledged",
        describe=describe_acknowledge, denied_text="Only doctors and administrators acknowledge critical results.",
        section="critical", listed=False,
    ),
    # Safety screening (webapp.safety): a radiologist clears a stop or protocols the order; the
    # front desk or the technician records the patient's arrival.
    OrderAction(
        "clear_safety", "Clear safety stop", _roles(Role.RADIOLOGIST), statuses=_BEFORE_SCAN | {"in_progress"},
        fields=(ActionField("reason", "text", "Why it is safe to go ahead", required=True),), step=steps.clear_safety,
        success_text="Safety stop on order {acc} cleared.", timeline_label="Safety stop cleared",
        describe=describe_clear_safety, denied_text="Only radiologists clear safety stops.",
        button_class="btn-warning", applies=lambda order: bool(order.open_stops),
    ),
    OrderAction(
        "protocol", "Protocol", _roles(Role.RADIOLOGIST), statuses=_BEFORE_SCAN,
        fields=(ActionField("protocol", "text", "Protocol", required=True),
                ActionField("protocol_notes", "text", "Notes for the technician")),
        step=steps.protocol, success_text="Order {acc} protocoled.", timeline_label="Protocoled",
        describe=describe_update, denied_text="Only radiologists protocol orders.",
        button_class="btn-outline-primary",
    ),
    OrderAction(
        "arrive", "Patient arrived", _roles(Role.SCHEDULER, Role.TECHNICIAN), statuses=_BEFORE_SCAN,
        step=steps.arrive, success_text="The patient of order {acc} has arrived.",
        tablet_text="Order {acc}: patient arrived.", timeline_label="Patient arrived",
        denied_text="Only the front desk (schedulers) and technicians record arrivals.",
        button_class="btn-outline-primary", applies=lambda order: order.arrived_at is None,
    ),
)}

# The timeline's events that are no action (each action's event is its own: OrderAction.event).
OTHER_EVENTS: dict[str, EventKind] = {kind.event_type: kind for kind in (
    EventKind("created", "Order placed"),
    EventKind("discontinued", "Procedure step discontinued"),  # a scanner's MPPS DISCONTINUED
    EventKind("mpps_refused", "MPPS refused"),  # a scanner's step for another patient or another modality
    EventKind("hl7_refused", "HL7 refused"),  # an EHR's cancel naming another patient (webapp.hl7.inbound)
    EventKind("patient_merged", "Moved to the surviving patient"),  # ADT^A40 (webapp.hl7.adt)
    EventKind("images_received", "Images received", describe_images),  # the PACS has the study (webapp.pacs)
    EventKind("study_match_refused", "Study match refused"),  # a held study of another patient (webapp.pacs)
    EventKind("study_corrected", "Study corrected in the PACS"),  # its patient rewritten, then matched
    # nobody acknowledged a critical result in time (webapp.reporting.escalation)
    EventKind("critical_escalated", "Critical result escalated", describe_escalation),
    EventKind("safety_screened", "Safety alerts changed", describe_screening),  # the safety record changed
)}


def event_kind(event_type: str) -> EventKind | None:
    """The timeline's kind of an event type: an action's event, or one of OTHER_EVENTS."""
    action = next((a for a in ACTIONS.values() if a.event_type == event_type), None)
    return action.event if action else OTHER_EVENTS.get(event_type)


def check_values(action: OrderAction, order, given: dict[str, Any]) -> dict[str, Any]:
    """The action's values, checked and cleaned (ValidationFailed lists every problem). A name no
    action takes is a programming error (TypeError), as an unknown keyword argument would be."""
    known = {f.name for a in ACTIONS.values() for f in a.value_fields} | set(ONLY_WHERE_TAKEN)
    unknown = set(given) - known
    if unknown:
        raise TypeError(f"Unknown order action values: {', '.join(sorted(unknown))}")
    errors: dict[str, str] = {}
    values = {NOTE.name: NOTE.check(given.get(NOTE.name), order, errors)} if NOTE in action.value_fields else {}
    taken = {f.name for f in action.value_fields}
    for name, message in ONLY_WHERE_TAKEN.items():
        if name not in taken and given.get(name) not in (None, ""):
            errors[name] = message
    for f in action.value_fields:
        if f is not NOTE:
            values[f.name] = f.check(given.get(f.name), order, errors)
    if errors:
        raise ValidationFailed(errors)
    return values


def timeline_entry(event) -> TimelineEntry:
    """How the order page's timeline shows an event: label, hidden suffix, lines below (note last)."""
    kind = event_kind(event.event_type)
    details = kind.describe(event) if kind else no_details(event)
    lines = details.lines + ((TimelineLine(event.note, "clinical-text"),) if event.note else ())
    # A description may word the whole label (e.g. "Images received (3 series, 161 images)").
    label = details.label or (kind.timeline_label if kind else event.event_type)
    return TimelineEntry(label, details.hidden_suffix, lines, details.changes)


def tablet_actions() -> list[str]:
    return [action.name for action in ACTIONS.values() if action.tablet_text]
