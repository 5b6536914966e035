"""The order status machine: one table of transitions and the roles that may take them.

Pages, the API, the technician's tablet and the DICOM service all ask this module what a user
may do to an order now; nothing else decides it.
"""

from __future__ import annotations

from dataclasses import dataclass

from webapp.auth.roles import Role


@dataclass(frozen=True)
class Transition:
    action: str  # the verb shown on buttons and used by the API and event log
    from_status: str
    to_status: str
    roles: frozenset[str]
    label: str


def _t(action: str, from_status: str, to_status: str, roles: set[Role], label: str) -> Transition:
    return Transition(action, from_status, to_status, frozenset(str(r) for r in roles), label)


_CANCELLERS = {Role.DOCTOR, Role.ADMIN}

# Seed section 8: Ordered → Scheduled → In Progress → Completed → Reported; any open order →
# Cancelled. Rescheduling keeps the order scheduled with a new date.
TRANSITIONS: tuple[Transition, ...] = (
    _t("schedule", "ordered", "scheduled", {Role.SCHEDULER}, "Schedule"),
    _t("reschedule", "scheduled", "scheduled", {Role.SCHEDULER}, "Reschedule"),
    _t("start", "scheduled", "in_progress", {Role.TECHNICIAN}, "Start scan"),
    _t("complete", "in_progress", "completed", {Role.TECHNICIAN}, "Complete scan"),
    _t("report", "completed", "reported", {Role.RADIOLOGIST}, "Submit report"),
    _t("cancel", "ordered", "cancelled", _CANCELLERS, "Cancel order"),
    _t("cancel", "scheduled", "cancelled", _CANCELLERS, "Cancel order"),
    _t("cancel", "in_progress", "cancelled", _CANCELLERS, "Cancel order"),
    _t("cancel", "completed", "cancelled", _CANCELLERS, "Cancel order"),
)

FINAL_STATUSES = frozenset({"reported", "cancelled"})

# Actions that are not status changes.
CREATE_ROLES = frozenset({str(Role.DOCTOR)})
EDIT_ROLES = frozenset({str(Role.DOCTOR), str(Role.ADMIN)})
EDITABLE_STATUSES = frozenset({"ordered", "scheduled"})
NOTE_ROLES = frozenset(str(r) for r in (Role.DOCTOR, Role.SCHEDULER, Role.TECHNICIAN, Role.RADIOLOGIST, Role.ADMIN))


def find_transition(from_status: str, to_status: str) -> Transition | None:
    for transition in TRANSITIONS:
        if transition.from_status == from_status and transition.to_status == to_status:
            return transition
    return None


def transition_for_action(from_status: str, action: str) -> Transition | None:
    for transition in TRANSITIONS:
        if transition.from_status == from_status and transition.action == action:
            return transition
    return None


def transitions_from(from_status: str) -> list[Transition]:
    return [t for t in TRANSITIONS if t.from_status == from_status]


def may_transition(role: str, from_status: str, to_status: str) -> bool:
    transition = find_transition(from_status, to_status)
    return transition is not None and role in transition.roles


def allowed_transitions(role: str, status: str) -> list[Transition]:
    """The status changes ``role`` may make to an order in ``status`` now."""
    return [t for t in transitions_from(status) if role in t.roles]


def may_create(role: str) -> bool:
    return role in CREATE_ROLES


def may_edit(role: str, status: str) -> bool:
    return role in EDIT_ROLES and status in EDITABLE_STATUSES


def may_add_note(role: str, status: str) -> bool:
    return role in NOTE_ROLES


def allowed_actions(role: str, status: str) -> list[str]:
    """Every action name ``role`` may take on an order in ``status``: transitions, edit, note."""
    actions = [t.action for t in allowed_transitions(role, status)]
    if may_edit(role, status):
        actions.append("edit")
    if may_add_note(role, status):
        actions.append("note")
    return actions
