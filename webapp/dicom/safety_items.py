"""The safety screening a worklist item carries to the scanner (webapp.safety; docs/safety.md):
Medical Alerts (0010,2000), Contrast Allergies (0010,2110; "Allergies" in today's standard), Pregnancy Status (0010,21C0) and
Patient's Weight (0010,1030) of the Patient Medical Module (PS3.3 C.2.4), and Requested Contrast
Agent (0032,1070) in the Scheduled Procedure Step item (PS3.4 Table K.6-1)."""

from __future__ import annotations

from pydicom.dataset import Dataset

from webapp.dicom.values import LO, text
from webapp.extensions import db
from webapp.imaging.models import CONTRAST_LABELS, ImagingOrder
from webapp.safety.models import SUBSTANCES, PatientSafety

# PS3.3 C.2.4, Pregnancy Status (0010,21C0), Enumerated Values: 0001 not pregnant, 0002 possibly
# pregnant, 0003 definitely pregnant, 0004 unknown.
ALLERGIES = 0x00102110
PREGNANCY_STATUS = {"no": 1, "possible": 2, "yes": 3, "unknown": 4}


def _alert(alert: dict, cleared: set[str]) -> str:
    state = " CLEARED" if alert.get("code") in cleared else ""
    return text(f"{alert.get('severity', '').upper()} {alert.get('code', '')}{state}", LO)


def _allergy(allergy: dict) -> str:
    name = SUBSTANCES.get(allergy.get("substance"), allergy.get("substance") or "")
    reaction = ", ".join(filter(None, [allergy.get("severity"), allergy.get("reaction")]))
    return text(f"{name} ({reaction})" if reaction else name, LO)


def add_safety_attributes(ds: Dataset, sps: Dataset, order: ImagingOrder) -> None:
    """Add the five attributes to the item ``ds`` and its Scheduled Procedure Step ``sps``."""
    record = db.session.get(PatientSafety, order.patient_id)
    cleared = set(order.safety_cleared_codes or ())
    ds.MedicalAlerts = [_alert(a, cleared) for a in order.safety_alerts or ()]
    # (0010,2110): "Contrast Allergies", named "Allergies" since DICOM 2017 (pydicom's keyword).
    ds.add_new(ALLERGIES, "LO", [_allergy(a) for a in record.contrast_allergies] if record else [])
    ds.PregnancyStatus = PREGNANCY_STATUS.get(record.pregnancy) if record and record.pregnancy else None
    ds.PatientWeight = f"{record.weight_kg:g}"[:16] if record and record.weight_kg else None
    sps.RequestedContrastAgent = CONTRAST_LABELS[order.contrast] if order.contrast != "none" else ""
