"""How an order's timeline entries read: what each kind of event says under its label.

An action's entry is described by the function its ``OrderAction.describe`` names
(webapp.imaging.actions, which holds every kind of event; ``actions.timeline_entry`` builds the
entry the order page shows). An "updated" event (the order form again, services.update_order)
lists each changed field with names instead of codes ("Body part: Chest → Abdomen").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from webapp.imaging import catalogue
from webapp.imaging.models import PRIORITY_LABELS


@dataclass(frozen=True)
class TimelineLine:
    text: str
    css_class: str = ""


class TimelineChange(NamedTuple):
    label: str
    old: str
    new: str


@dataclass(frozen=True)
class TimelineEntry:
    label: str
    hidden_suffix: str = ""  # read by screen readers after the label
    lines: tuple[TimelineLine, ...] = ()
    changes: tuple[TimelineChange, ...] = ()  # the fields an edit changed, shown as a list


def _changes(event) -> dict:
    return event.changes if isinstance(event.changes, dict) else {}


def no_details(event) -> TimelineEntry:
    return TimelineEntry("")


def describe_schedule(event) -> TimelineEntry:
    """A booking: "for" its time; its reason (later than the priority's target, a rebooking) and
    the bookings it was allowed to overlap."""
    changes = _changes(event)
    lines = []
    if changes.get("reason"):
        prefix = "Booked later than its target: " if changes.get("late") else "Reason: "
        lines.append(TimelineLine(f"{prefix}{changes['reason']}", "clinical-text"))
    if changes.get("overlaps"):
        lines.append(TimelineLine(f"Booked over {', '.join(map(str, changes['overlaps']))} (overlap allowed)"))
    return TimelineEntry("", "for" if changes.get("scheduled_date") else "", lines=tuple(lines))


def describe_start(event) -> TimelineEntry:
    """A scanner (MPPS) that started while another scan was in progress on it: said."""
    busy = _changes(event).get("while_scanning")
    if not isinstance(busy, dict):
        return TimelineEntry("")
    return TimelineEntry("", lines=(TimelineLine(
        f"Started by the scanner while {', '.join(map(str, busy.get('orders', [])))} was still in progress "
        f"on {busy.get('station_ae')}"),))


def describe_complete(event) -> TimelineEntry:
    images = _changes(event).get("number_of_images")
    return TimelineEntry("", lines=() if images is None else (TimelineLine(f"{images} images"),))


def describe_cancel(event) -> TimelineEntry:
    reason = _changes(event).get("reason")
    return TimelineEntry("", lines=(TimelineLine(f"Reason: {reason}", "clinical-text"),) if reason else ())


def _critical_line(changes: dict) -> tuple[TimelineLine, ...]:
    critical = changes.get("critical")
    if not isinstance(critical, dict):
        return ()
    return (TimelineLine(f"Critical finding for the ordering doctor: {critical.get('note')}", "critical-text"),)


def describe_report(event) -> TimelineEntry:
    """A report signed with a critical finding says so."""
    return TimelineEntry("", lines=_critical_line(_changes(event)))


def describe_addendum(event) -> TimelineEntry:
    changes = _changes(event)
    text = changes.get("addendum")
    return TimelineEntry("", lines=((TimelineLine(text, "clinical-text"),) if text else ()) + _critical_line(changes))


def describe_cosign(event) -> TimelineEntry:
    """Whose preliminary report was co-signed, and whether the impression changed."""
    changes = _changes(event)
    lines = [TimelineLine(f"Preliminary report by {changes['trainee']}")] if changes.get("trainee") else []
    changed = changes.get("impression_changed")
    if isinstance(changed, dict):
        lines.append(TimelineLine(f"Impression changed from the preliminary report: was \"{changed.get('from')}\", "
                                  f"now \"{changed.get('to')}\"", "critical-text"))
    return TimelineEntry("", lines=tuple(lines))


def describe_take_over(event) -> TimelineEntry:
    """Whose claim was taken over, and why (webapp.reporting.claims)."""
    claim = _changes(event).get("claim") or {}
    lines = [TimelineLine(f"Was being read by {claim['from']}")] if claim.get("from") else []
    if claim.get("reason"):
        lines.append(TimelineLine(f"Reason: {claim['reason']}", "clinical-text"))
    return TimelineEntry("", lines=tuple(lines))


def describe_acknowledge(event) -> TimelineEntry:
    """Who acknowledged for whom: "On behalf of Dr X" when not the ordering doctor themselves."""
    changes = _changes(event)
    lines = [TimelineLine(f"Critical finding: {changes['note']}", "clinical-text")] if changes.get("note") else []
    if changes.get("on_behalf_of"):
        lines.append(TimelineLine(f"On behalf of {changes['on_behalf_of']}"))
    return TimelineEntry("", lines=tuple(lines))


def describe_escalation(event) -> TimelineEntry:
    """Not acknowledged within CRITICAL_ACK_MINUTES: the note, and whom the escalation went to."""
    changes = _changes(event)
    lines = [TimelineLine(f"Critical finding: {changes['note']}", "clinical-text")] if changes.get("note") else []
    if changes.get("ack_minutes") is not None:
        lines.append(TimelineLine(f"Not acknowledged within {changes['ack_minutes']:g} min"))
    notified = changes.get("notified") or []
    lines.append(TimelineLine(f"Notified: {', '.join(notified)}" if notified else
                              "No webhook or e-mail configured (CRITICAL_WEBHOOK_URL, SMTP_URL)"))
    return TimelineEntry("", lines=tuple(lines))


# ---------------------------------------------------------------------------- an edit's changes

# What the timeline calls the fields of an "updated" event (services.update_order's diff), in this
# order; other fields follow by name. The edit page's success message names them too.
CHANGE_LABELS = {
    "modality": "Modality",
    "body_part": "Body part",
    "laterality": "Laterality",
    "procedure_code": "Procedure",
    "priority": "Priority",
    "diagnosis_id": "Diagnosis",
    "clinical_indication": "Clinical indication",
    "clinical_history": "Clinical history",
    "special_instructions": "Special instructions",
    "scheduled_station_ae": "Booked scanner",
    "contrast": "Contrast",
    "protocol": "Protocol",
    "protocol_notes": "Notes for the technician",
}
NOT_LISTED = {"procedure_name", "safety_alerts"}  # the code is shown with the procedure; alerts on the order


def describe_clear_safety(event) -> TimelineEntry:
    """Which stops a radiologist cleared, and why (webapp.safety)."""
    changes = _changes(event)
    lines = [TimelineLine(f"Cleared: {', '.join(changes.get('cleared') or [])}")]
    if changes.get("reason"):
        lines.append(TimelineLine(f"Reason: {changes['reason']}", "clinical-text"))
    return TimelineEntry("", lines=tuple(lines))


def describe_screening(event) -> TimelineEntry:
    """The safety record changed the order's alerts: the alerts now (webapp.safety)."""
    alerts = _changes(event).get("safety_alerts", {}).get("to") or []
    if not alerts:
        return TimelineEntry("", lines=(TimelineLine("No safety alerts now."),))
    return TimelineEntry("", lines=tuple(
        TimelineLine(f"{a.get('severity', '').upper()}: {a.get('message', '')}",
                     "critical-text" if a.get("severity") == "stop" else "") for a in alerts))


def describe_images(event) -> TimelineEntry:
    """ "Images received (3 series, 161 images)": the PACS has the order's study (webapp.pacs)."""
    changes = _changes(event)
    series, images = changes.get("series"), changes.get("instances")
    if series is None or images is None:
        return TimelineEntry("")
    return TimelineEntry(f"Images received ({series} series, {images} image{'' if images == 1 else 's'})")


def _diagnosis(value, event, procedure_names: dict) -> str:
    labels = {str(d.id): d.label for d in event.order.visit.diagnoses}
    return labels.get(str(value), "a diagnosis no longer on the visit")


def _procedure(value, event, procedure_names: dict) -> str:
    return f"{procedure_names[value]} (CPT {value})" if procedure_names.get(value) else f"CPT {value}"


# A field's value as the timeline shows it: (value, event, procedure names by code) -> text.
_SHOWN: dict[str, Callable[[Any, Any, dict], str]] = {
    "modality": lambda value, event, names: catalogue.modality_name(value),
    "body_part": lambda value, event, names: catalogue.body_part_name(value),
    "priority": lambda value, event, names: PRIORITY_LABELS.get(value, str(value)),
    "laterality": lambda value, event, names: str(value).capitalize(),
    "procedure_code": _procedure,
    "diagnosis_id": _diagnosis,
}


def _shown(name: str, value, event, procedure_names: dict) -> str:
    if value in (None, ""):
        return "not specified" if name == "procedure_code" else "none"
    show = _SHOWN.get(name)
    return show(value, event, procedure_names) if show else str(value)


def describe_update(event) -> TimelineEntry:
    """Each field the edit changed, with names instead of codes: ("Body part", "Chest", "Abdomen").
    Reads the catalogue (and the visit's diagnoses) only for the fields that changed."""
    diff = {name: change for name, change in _changes(event).items() if isinstance(change, dict)}
    codes, names = diff.get("procedure_code", {}), diff.get("procedure_name", {})
    procedure_names = {codes.get("from"): names.get("from"), codes.get("to"): names.get("to")}
    fields = [*CHANGE_LABELS, *sorted(set(diff) - set(CHANGE_LABELS) - NOT_LISTED)]
    return TimelineEntry("", changes=tuple(
        TimelineChange(
            CHANGE_LABELS.get(name) or name.replace("_", " ").capitalize(),
            _shown(name, diff[name].get("from"), event, procedure_names),
            _shown(name, diff[name].get("to"), event, procedure_names),
        )
        for name in fields if name in diff
    ))
