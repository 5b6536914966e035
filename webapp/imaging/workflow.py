"""The order status machine: the transitions and the roles that may take them.

The table is derived from the order actions (webapp.imaging.actions, where each action is
defined once). Pages, the API, the technician's tablet and the DICOM service all ask this module
what a user may do to an order now; nothing else decides it.
"""

from __future__ import annotations

from dataclasses import dataclass

from webapp.auth.roles import Role
from webapp.imaging.actions import ACTIONS


@dataclass(frozen=True)
class Transition:
    action: str  # the verb shown on buttons and used by the API and event log
    from_status: str
    to_status: str
    roles: frozenset[str]
    label: str


TRANSITIONS: tuple[Transition, ...] = tuple(
    Transition(action.name, from_status, to_status, action.roles, action.label)
    for action in ACTIONS.values()
    for from_status, to_status in action.transitions
)

FINAL_STATUSES = frozenset({"reported", "cancelled"})

# Actions that are not status changes.
CREATE_ROLES = frozenset({str(Role.DOCTOR)})
EDIT_ROLES = ACTIONS["edit"].roles
EDITABLE_STATUSES = ACTIONS["edit"].statuses


def find_transition(from_status: str, to_status: str) -> Transition | None:
    for transition in TRANSITIONS:
        if transition.from_status == from_status and transition.to_status == to_status:
            return transition
    return None


def may_create(role: str) -> bool:
    return role in CREATE_ROLES


def allowed_actions(role: str, status: str) -> list[str]:
    """Every action name ``role`` may take on an order in ``status`` (transitions, edit, note,
    addendum), in the order of the action table; unlisted ones (acknowledge) are left out."""
    return [action.name for action in ACTIONS.values() if action.listed and action.allows(role, status)]
