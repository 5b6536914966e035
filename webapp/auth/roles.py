"""The roles of the department and what each may see. Order transitions live in imaging.workflow."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    DOCTOR = "doctor"
    SCHEDULER = "scheduler"
    TECHNICIAN = "technician"
    RADIOLOGIST = "radiologist"
    ADMIN = "admin"
    # A read-only account for the department's wall display: counts and the live stream only.
    DISPLAY = "display"


STAFF_ROLES = frozenset({Role.DOCTOR, Role.SCHEDULER, Role.TECHNICIAN, Role.RADIOLOGIST, Role.ADMIN})
ALL_ROLES = frozenset(Role)

# Who may open patient records and orders (everybody but the wall display).
CAN_VIEW_ORDERS = STAFF_ROLES
# Who may register patients and open visits (the substrate of earlier phases).
CAN_REGISTER_PATIENTS = frozenset({Role.DOCTOR, Role.SCHEDULER, Role.ADMIN})
CAN_OPEN_VISITS = frozenset({Role.DOCTOR, Role.ADMIN})
CAN_MANAGE_USERS = frozenset({Role.ADMIN})
