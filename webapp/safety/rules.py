"""The screening rules, in one table: what an exam and a patient's safety record raise.

Each rule names its code, its severity (``stop``: nobody books or scans until a radiologist clears
it with a reason; ``warn``: shown wherever the order is), when it applies, the sentence a
clinician reads, its published source and the test that holds it. docs/safety.md mirrors this
table row for row (tests/safety/test_rules.py checks that they agree).

Sources:

* ACR: ACR Manual on Contrast Media, 2024 edition (American College of Radiology Committee on
  Drugs and Contrast Media), chapters "Postcontrast Acute Kidney Injury and Contrast-Induced
  Nephropathy in Adults", "Metformin", "Allergic-Like and Physiologic Reactions to Intravascular
  Iodinated Contrast Media", "Nephrogenic Systemic Fibrosis" and "ACR–NKF Consensus" tables.
* ACR MR: ACR Manual on MR Safety (2024), with the ASTM F2503 terms MR Safe, MR Conditional and
  MR Unsafe.
* ACR–SPR: ACR–SPR Practice Parameter for Imaging Pregnant or Potentially Pregnant Patients with
  Ionizing Radiation (revised 2023).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

STOP, WARN = "stop", "warn"
# eGFR thresholds, mL/min/1.73 m² (ACR Manual on Contrast Media, 2024: PC-AKI risk below 30; a
# "gray zone" 30–44 where prophylaxis is decided case by case; no added risk from 45 up).
EGFR_STOP_BELOW = 30.0
EGFR_WARN_BELOW = 45.0
EGFR_RECENT_DAYS = 30  # a recent eGFR for a patient at risk: measured within this many days
AT_RISK_AGE = 60  # older than this is a risk factor for kidney injury
IONISING = frozenset({"CT", "XRAY", "FL"})
# Exams whose field covers the trunk (chest, abdomen, pelvis, spine, the GI tract, and vascular
# studies, which include chest angiography): ionising radiation there reaches a pregnancy.
TRUNK = frozenset({"CHEST", "ABDOMEN", "PELVIS", "SPINE", "UPPER_GI", "LOWER_GI", "VASCULAR"})
CONTRAST_ALLERGY = {"iodinated": "iodinated_contrast", "gadolinium": "gadolinium_contrast"}


@dataclass(frozen=True)
class Facts:
    """What the rules read: the exam (modality, body part, contrast) and the patient's record."""

    modality: str
    body_part: str
    contrast: str = "none"
    age: int | None = None
    egfr: float | None = None
    egfr_measured_on: date | None = None
    today: date | None = None
    pregnancy: str | None = None
    allergies: tuple[dict, ...] = ()
    implants: tuple[dict, ...] = ()
    on_metformin: bool = False
    diabetes: bool = False
    renal_disease: bool = False
    risk_factors: tuple[str, ...] = field(init=False)

    def __post_init__(self):
        factors = []
        if self.age is not None and self.age > AT_RISK_AGE:
            factors.append(f"age over {AT_RISK_AGE}")
        factors += [name for name, present in (("diabetes", self.diabetes), ("renal disease", self.renal_disease),
                                               ("metformin", self.on_metformin)) if present]
        object.__setattr__(self, "risk_factors", tuple(factors))

    @property
    def egfr_text(self) -> str:
        when = f", measured {self.egfr_measured_on:%Y-%m-%d}" if self.egfr_measured_on else ""
        return f"eGFR {self.egfr:g} mL/min/1.73 m²{when}"

    @property
    def egfr_recent(self) -> bool:
        if self.egfr is None or self.egfr_measured_on is None or self.today is None:
            return False
        return (self.today - self.egfr_measured_on).days <= EGFR_RECENT_DAYS

    def implants_of(self, safety: str) -> list[str]:
        return [i.get("name", "implant") for i in self.implants if i.get("mr_safety") == safety]

    def reactions_to(self, contrast: str) -> list[dict]:
        substance = CONTRAST_ALLERGY.get(contrast)
        return [a for a in self.allergies if substance and a.get("substance") == substance]


@dataclass(frozen=True)
class Rule:
    code: str
    severity: str
    applies: Callable[[Facts], bool]
    message: Callable[[Facts], str]
    source: str
    test: str  # the test (tests/safety/test_rules.py) that holds it


def _egfr_below(limit: float) -> Callable[[float | None], bool]:
    return lambda value: value is not None and value < limit


_below_30 = _egfr_below(EGFR_STOP_BELOW)
_below_45 = _egfr_below(EGFR_WARN_BELOW)


def _reaction_text(facts: Facts) -> str:
    reaction = facts.reactions_to(facts.contrast)[0]
    what = ", ".join(filter(None, [reaction.get("severity"), reaction.get("reaction")]))
    return f" ({what})" if what else ""


RULES: tuple[Rule, ...] = (
    Rule(
        "IODINATED_EGFR_BELOW_30", STOP,
        lambda f: f.contrast == "iodinated" and _below_30(f.egfr),
        lambda f: (f"{f.egfr_text}: below 30, intravascular iodinated contrast carries a risk of acute kidney "
                   "injury. A radiologist must decide (non-contrast study, or contrast with prophylaxis)."),
        "ACR Manual on Contrast Media 2024, Postcontrast AKI: eGFR < 30 is the risk threshold",
        "test_iodinated_egfr_boundaries",
    ),
    Rule(
        "IODINATED_EGFR_30_44", WARN,
        lambda f: f.contrast == "iodinated" and not _below_30(f.egfr) and _below_45(f.egfr),
        lambda f: (f"{f.egfr_text}: between 30 and 44, consider IV hydration and the lowest contrast dose "
                   "(radiologist's judgement)."),
        "ACR Manual on Contrast Media 2024, Postcontrast AKI: 30–44 case by case; ≥ 45 no added risk",
        "test_iodinated_egfr_boundaries",
    ),
    Rule(
        "EGFR_NOT_RECENT", WARN,
        lambda f: f.contrast != "none" and bool(f.risk_factors) and not f.egfr_recent,
        lambda f: (f"No eGFR from the last {EGFR_RECENT_DAYS} days for a patient at risk "
                   f"({', '.join(f.risk_factors)}): measure kidney function before contrast."),
        "ACR Manual on Contrast Media 2024, Postcontrast AKI: risk factors, a recent eGFR before contrast",
        "test_egfr_not_recent_for_patients_at_risk",
    ),
    Rule(
        "PRIOR_CONTRAST_REACTION", STOP,
        lambda f: bool(f.reactions_to(f.contrast)),
        lambda f: (f"Prior reaction to {f.contrast} contrast{_reaction_text(f)}: a radiologist decides on "
                   "premedication or another study before this contrast is given."),
        "ACR Manual on Contrast Media 2024, Allergic-Like Reactions: prior reaction to the class, premedication",
        "test_prior_reaction_to_the_same_class",
    ),
    Rule(
        "GADOLINIUM_EGFR_BELOW_30", WARN,
        lambda f: f.contrast == "gadolinium" and _below_30(f.egfr),
        lambda f: (f"{f.egfr_text}: below 30, use a group II gadolinium agent at the lowest dose "
                   "(nephrogenic systemic fibrosis risk)."),
        "ACR Manual on Contrast Media 2024, Nephrogenic Systemic Fibrosis: eGFR < 30 (group II agents)",
        "test_gadolinium_egfr_below_30",
    ),
    Rule(
        "METFORMIN_HOLD", WARN,
        lambda f: f.on_metformin and f.contrast == "iodinated" and _below_30(f.egfr),
        lambda f: (f"On metformin with {f.egfr_text}: hold metformin for 48 hours after the contrast and "
                   "restart only once kidney function is rechecked and stable."),
        "ACR Manual on Contrast Media 2024, Metformin: eGFR < 30 or AKI, withhold 48 h after iodinated contrast",
        "test_metformin_hold",
    ),
    Rule(
        "PREGNANCY_IONISING_TRUNK", STOP,
        lambda f: f.pregnancy in ("yes", "possible") and f.modality in IONISING and f.body_part in TRUNK,
        lambda f: (f"Patient is {'pregnant' if f.pregnancy == 'yes' else 'possibly pregnant'}: ionising "
                   "radiation of the trunk needs a radiologist's decision (justification, ultrasound or MRI "
                   "instead, or shielding and dose)."),
        "ACR–SPR Practice Parameter for Imaging Pregnant or Potentially Pregnant Patients with Ionizing Radiation (2023)",
        "test_pregnancy_with_ionising_trunk_exams",
    ),
    Rule(
        "MR_UNSAFE_IMPLANT", STOP,
        lambda f: f.modality == "MRI" and bool(f.implants_of("unsafe")),
        lambda f: (f"MR-unsafe implant ({', '.join(f.implants_of('unsafe'))}): the patient must not enter "
                   "the MR scanner room."),
        "ACR Manual on MR Safety 2024 (ASTM F2503 MR Unsafe): not to enter Zone IV",
        "test_mr_implants",
    ),
    Rule(
        "MR_CONDITIONAL_IMPLANT", WARN,
        lambda f: f.modality == "MRI" and bool(f.implants_of("conditional")),
        lambda f: (f"MR-conditional implant ({', '.join(f.implants_of('conditional'))}): scan only under its "
                   "conditions (field strength, SAR, gradients); check the labelling."),
        "ACR Manual on MR Safety 2024 (ASTM F2503 MR Conditional): scan within the labelled conditions",
        "test_mr_implants",
    ),
)


def evaluate(facts: Facts) -> list[dict]:
    """The alerts the rules raise for these facts, in the table's order: {code, severity, message}."""
    return [{"code": rule.code, "severity": rule.severity, "message": rule.message(facts)}
            for rule in RULES if rule.applies(facts)]
