"""The order action registry: the transition table and the timeline come from it, values are
checked by the action's fields, and the rules live outside the service module."""

from __future__ import annotations

import ast
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.transitions import EXPECTED_TRANSITIONS
from webapp.errors import ValidationFailed
from webapp.imaging import actions, workflow
from webapp.imaging.actions import ACTIONS, TimelineLine, check_values, timeline_entry

ROOT = Path(__file__).resolve().parents[2]


def event(event_type, changes=None, note=None):
    return SimpleNamespace(event_type=event_type, changes=changes or {}, note=note)


def test_the_transition_table_is_the_actions_transitions():
    derived = {(t.from_status, t.to_status): set(t.roles) for t in workflow.TRANSITIONS}
    assert derived == EXPECTED_TRANSITIONS
    assert {t.label for t in workflow.TRANSITIONS} == {
        "Schedule", "Reschedule", "Unbook", "Start scan", "Undo start", "Complete scan", "Submit report", "Co-sign report",
        "Cancel order"}


def test_every_action_event_and_the_others_have_a_timeline_label():
    labels = {kind: timeline_entry(event(kind)).label for kind in (
        "created", "schedule", "reschedule", "start", "complete", "report", "cancel", "note", "updated",
        "discontinued")}
    assert labels == {
        "created": "Order placed", "schedule": "Scheduled", "reschedule": "Rescheduled", "start": "Scan started",
        "complete": "Scan completed", "report": "Reported", "cancel": "Cancelled", "note": "Note added",
        "updated": "Details changed", "discontinued": "Procedure step discontinued",
    }
    assert timeline_entry(event("something_new")).label == "something_new"


def test_timeline_entries_read_as_the_definitions_say():
    assert timeline_entry(event("complete", {"number_of_images": 0})).lines == (TimelineLine("0 images"),)
    assert timeline_entry(event("complete")).lines == ()
    cancelled = timeline_entry(event("cancel", {"reason": "Duplicate"}, note="Called the ward"))
    assert cancelled.lines == (TimelineLine("Reason: Duplicate", "clinical-text"),
                               TimelineLine("Called the ward", "clinical-text"))
    assert timeline_entry(event("reschedule", {"scheduled_date": {"to": "x"}})).hidden_suffix == "for"
    assert timeline_entry(event("start")).hidden_suffix == ""


def test_values_are_checked_by_the_actions_fields(app_ctx):
    order = SimpleNamespace(scheduled_station_ae="CR1", modality="XRAY")
    with pytest.raises(ValidationFailed) as refused:
        check_values(ACTIONS["schedule"], order, {"scheduled_date": datetime(2030, 1, 1, 9), "note": 5})
    assert refused.value.errors == {"note": "Must be text.", "scheduled_date": "The date and time needs a time zone."}
    with pytest.raises(ValidationFailed) as refused:
        check_values(ACTIONS["start"], order, {"station_ae": "CR1"})
    assert refused.value.errors == {"station_ae": "A station is booked only when scheduling."}
    assert check_values(ACTIONS["complete"], order, {"number_of_images": "", "note": "  ok "}) == {
        "note": "ok", "number_of_images": None}
    with pytest.raises(TypeError, match="teleport"):
        check_values(ACTIONS["start"], order, {"teleport": True})


def test_note_is_its_own_action_and_edit_has_no_step():
    assert ACTIONS["note"].value_fields == ACTIONS["note"].fields  # its note is required, not the optional one
    assert ACTIONS["note"].target("reported") == "reported" and ACTIONS["edit"].target("reported") is None
    assert ACTIONS["edit"].step is None and ACTIONS["edit"].event_type == "updated"
    assert actions.tablet_actions() == ["start", "undo_start", "complete", "arrive"]


@pytest.mark.parametrize("module", ["webapp/imaging/forms.py", "webapp/api/schemas.py"])
def test_forms_and_schemas_take_their_limits_from_the_rules_not_the_services(module):
    tree = ast.parse((ROOT / module).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "webapp.imaging.rules" in imported and "webapp.imaging.services" not in imported
