"""The screening rules (webapp.safety.rules), each row of docs/safety.md held by a test named there.

Sources: ACR Manual on Contrast Media, 2024 edition (PC-AKI thresholds eGFR < 30 and 30–44,
risk factors and a recent eGFR, metformin, allergic-like reactions, NSF and group II gadolinium);
ACR Manual on MR Safety 2024 (ASTM F2503 MR Safe/Conditional/Unsafe); ACR–SPR Practice Parameter for
Imaging Pregnant or Potentially Pregnant Patients with Ionizing Radiation (2023).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from webapp.safety.rules import RULES, Facts, evaluate

TODAY = date(2026, 12, 7)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "safety.md"


def codes(**fields) -> dict[str, str]:
    base = {"modality": "CT", "body_part": "ABDOMEN", "contrast": "iodinated", "age": 45, "today": TODAY}
    return {a["code"]: a["severity"] for a in evaluate(Facts(**(base | fields)))}


def egfr(value, days_ago=3):
    return {"egfr": value, "egfr_measured_on": TODAY - timedelta(days=days_ago)}


@pytest.mark.parametrize(("value", "expected"), [
    (29.9, {"IODINATED_EGFR_BELOW_30": "stop"}),
    (30, {"IODINATED_EGFR_30_44": "warn"}),
    (44.9, {"IODINATED_EGFR_30_44": "warn"}),
    (45, {}),
    (90, {}),
])
def test_iodinated_egfr_boundaries(value, expected):
    """ACR Manual on Contrast Media 2024: eGFR < 30 stop; 30–44 warn; ≥ 45 nothing (29.9, 30, 44.9, 45)."""
    assert codes(**egfr(value)) == expected
    assert codes(contrast="none", **egfr(value)) == {}  # no contrast, no kidney rule


def test_egfr_not_recent_for_patients_at_risk():
    """ACR: patients at risk (over 60, diabetes, renal disease, metformin) need an eGFR from the last 30 days."""
    assert codes(age=61) == {"EGFR_NOT_RECENT": "warn"}
    assert codes(age=60) == {}  # "over 60"
    assert codes(diabetes=True, **egfr(80, days_ago=31)) == {"EGFR_NOT_RECENT": "warn"}
    assert codes(diabetes=True, **egfr(80, days_ago=30)) == {}
    assert codes(renal_disease=True, contrast="gadolinium", modality="MRI") == {"EGFR_NOT_RECENT": "warn"}
    assert codes(on_metformin=True, contrast="none") == {}
    message = evaluate(Facts("CT", "ABDOMEN", "iodinated", age=70, diabetes=True, today=TODAY))[0]["message"]
    assert "age over 60, diabetes" in message


def test_prior_reaction_to_the_same_class():
    """ACR: a prior allergic-like reaction to the same class is a premedication decision (stop); another class is not."""
    iodinated = {"allergies": ({"substance": "iodinated_contrast", "reaction": "hives", "severity": "moderate"},)}
    assert codes(**iodinated, **egfr(90)) == {"PRIOR_CONTRAST_REACTION": "stop"}
    assert codes(modality="MRI", contrast="gadolinium", **iodinated, **egfr(90)) == {}
    gadolinium = {"allergies": ({"substance": "gadolinium_contrast"},)}
    assert codes(modality="MRI", contrast="gadolinium", **gadolinium, **egfr(90)) == {"PRIOR_CONTRAST_REACTION": "stop"}
    assert "moderate, hives" in evaluate(Facts("CT", "ABDOMEN", "iodinated", **iodinated, today=TODAY))[0]["message"]


def test_gadolinium_egfr_below_30():
    """ACR (NSF): gadolinium with eGFR < 30 warns (group II agent, lowest dose); 30 does not."""
    mri = {"modality": "MRI", "body_part": "HEAD", "contrast": "gadolinium"}
    assert codes(**mri, **egfr(29.9)) == {"GADOLINIUM_EGFR_BELOW_30": "warn"}
    assert codes(**mri, **egfr(30)) == {}


def test_metformin_hold():
    """ACR (Metformin): on metformin, iodinated contrast and eGFR < 30: hold it 48 h."""
    assert codes(on_metformin=True, **egfr(28)) == {
        "IODINATED_EGFR_BELOW_30": "stop", "METFORMIN_HOLD": "warn"}
    assert codes(on_metformin=True, **egfr(30)) == {"IODINATED_EGFR_30_44": "warn"}
    assert "48 hours" in evaluate(Facts("CT", "ABDOMEN", "iodinated", on_metformin=True, today=TODAY,
                                        **egfr(20)))[1]["message"]


@pytest.mark.parametrize(("modality", "body_part", "stops"), [
    ("CT", "ABDOMEN", True), ("XRAY", "CHEST", True), ("FL", "UPPER_GI", True), ("CT", "SPINE", True),
    ("CT", "HEAD", False), ("XRAY", "EXTREMITY", False), ("MRI", "ABDOMEN", False), ("US", "OBSTETRIC", False),
])
def test_pregnancy_with_ionising_trunk_exams(modality, body_part, stops):
    """ACR–SPR practice parameter: ionising radiation of the trunk in a (possibly) pregnant patient is stopped."""
    for status in ("yes", "possible"):
        found = codes(modality=modality, body_part=body_part, contrast="none", pregnancy=status)
        assert found == ({"PREGNANCY_IONISING_TRUNK": "stop"} if stops else {})
    for status in ("no", "unknown", None):
        assert codes(modality=modality, body_part=body_part, contrast="none", pregnancy=status) == {}


def test_mr_implants():
    """ACR Manual on MR Safety (ASTM F2503): MR Unsafe stops, MR Conditional warns, MR Safe nothing; MRI only."""
    implants = ({"name": "Cardiac pacemaker (legacy)", "mr_safety": "unsafe"},
                {"name": "Hip prosthesis", "mr_safety": "conditional"}, {"name": "Dental filling", "mr_safety": "safe"})
    mri = {"modality": "MRI", "body_part": "HEAD", "contrast": "none"}
    assert codes(**mri, implants=implants) == {"MR_UNSAFE_IMPLANT": "stop", "MR_CONDITIONAL_IMPLANT": "warn"}
    assert codes(**mri, implants=implants[2:]) == {}
    assert codes(modality="CT", body_part="HEAD", contrast="none", implants=implants) == {}


def test_the_docs_table_is_the_code_table():
    """docs/safety.md lists every rule once, with the code's severity, a source and an existing test."""
    rows = [line for line in DOCS.read_text().splitlines() if re.match(r"^\| `[A-Z0-9_]+` \|", line)]
    documented = {}
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        documented[cells[0].strip("`")] = cells
    assert list(documented) == [rule.code for rule in RULES]
    tests = set(globals())
    for rule in RULES:
        cells = documented[rule.code]
        assert cells[1] == rule.severity
        assert "ACR" in cells[3]
        assert f"`{rule.test}`" in cells[4] and rule.test in tests
