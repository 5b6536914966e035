"""The order status machine the tests expect, written out by hand from seed section 8 (and
independently of webapp.imaging.actions / workflow), so a change to the app's table must be made
here too, deliberately. Shared by tests/core/test_workflow.py and tests/hardening/test_state_machine.py.
"""

OPEN_STATUSES = ("ordered", "scheduled", "in_progress", "completed")
CANCELLERS = {"doctor", "admin"}

# (from status, to status) -> the roles that may make that change.
EXPECTED_TRANSITIONS = {
    ("ordered", "scheduled"): {"scheduler"},
    ("scheduled", "scheduled"): {"scheduler"},
    ("scheduled", "ordered"): {"scheduler"},  # unbook, with a reason (issue 25)
    ("scheduled", "in_progress"): {"technician"},
    ("in_progress", "scheduled"): {"technician"},  # undo a start by mistake, within 5 minutes (issue 25)
    ("in_progress", "completed"): {"technician"},
    ("completed", "reported"): {"radiologist"},
    **{(status, "cancelled"): CANCELLERS for status in OPEN_STATUSES},
}
