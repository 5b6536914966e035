"""The action registry has the reporting actions: an addendum and an acknowledgement are order
actions without a status change; signing is the existing report transition."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from webapp.errors import ValidationFailed
from webapp.imaging import workflow
from webapp.imaging.actions import ACTIONS, TimelineLine, check_values, timeline_entry


def event(event_type, changes=None, note=None):
    return SimpleNamespace(event_type=event_type, changes=changes or {}, note=note)


def test_addendum_and_acknowledge_are_actions_without_a_status_change():
    addendum, acknowledge = ACTIONS["addendum"], ACTIONS["acknowledge"]
    assert addendum.transitions == () and addendum.target("reported") == "reported"
    assert addendum.target("completed") is None
    assert addendum.roles == {"radiologist"} and acknowledge.roles == {"doctor", "admin"}
    assert acknowledge.target("reported") == "reported" and acknowledge.target("completed") is None
    # Signing stays the report transition, completed -> reported.
    assert ACTIONS["report"].transitions == (("completed", "reported"),)
    assert {f.name for f in ACTIONS["report"].fields} >= {"findings", "impression", "technique", "comparison",
                                                          "template_code", "critical", "critical_note"}


def test_allowed_actions_offer_the_addendum_but_not_the_acknowledgement():
    assert workflow.allowed_actions("radiologist", "reported") == ["note", "addendum"]
    assert "acknowledge" not in workflow.allowed_actions("doctor", "reported")
    assert "acknowledge" not in workflow.allowed_actions("admin", "reported")
    # No new transition: the table is unchanged.
    assert "addendum" not in {t.action for t in workflow.TRANSITIONS}


def test_reporting_timeline_entries():
    assert timeline_entry(event("addendum", {"addendum": "Also a rib fracture."})).label == "Addendum"
    entry = timeline_entry(event("addendum", {"addendum": "Rib fracture.", "critical": {"note": "Pneumothorax"}}))
    assert entry.lines == (TimelineLine("Rib fracture.", "clinical-text"),
                           TimelineLine("Critical finding for the ordering doctor: Pneumothorax", "critical-text"))
    assert timeline_entry(event("report", {"critical": {"note": "Bleed"}})).lines == (
        TimelineLine("Critical finding for the ordering doctor: Bleed", "critical-text"),)
    acked = timeline_entry(event("acknowledge", {"note": "Bleed", "on_behalf_of": "Dr Who"}))
    assert acked.label == "Critical result acknowledged"
    assert acked.lines == (TimelineLine("Critical finding: Bleed", "clinical-text"), TimelineLine("On behalf of Dr Who"))


def test_critical_flag_and_record_values_are_checked(app_ctx):
    order = SimpleNamespace()
    assert check_values(ACTIONS["addendum"], order, {"addendum": " x ", "critical": True, "critical_note": "n"}) == {
        "note": None, "addendum": "x", "critical": True, "critical_note": "n"}
    with pytest.raises(ValidationFailed) as refused:
        check_values(ACTIONS["addendum"], order, {"addendum": "", "critical": "maybe"})
    assert refused.value.errors == {"addendum": "This field is required.", "critical": "Must be true or false."}
    with pytest.raises(ValidationFailed) as refused:
        check_values(ACTIONS["acknowledge"], order, {"critical_id": -3})
    assert refused.value.errors == {"critical_id": "Must be the id of a record."}
