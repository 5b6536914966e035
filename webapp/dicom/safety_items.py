"""The safety screening a worklist item carries to the scanner (webapp.safety; docs/safety.md):
Medical Alerts (0010,2000), Contrast Allergies (0010,2110; "Allergies" in today's standard),
Pregnancy Status (0010,21C0) and Patient's Weight (0010,1030) of the Patient Medical Module
(PS3.3 C.2.4), and Requested Contrast Agent (0032,1070) in the Scheduled Procedure Step item
(PS3.4 Table K.6-1). Each is a value function of ``webapp.dicom.items``' attribute table; a
multi-valued text is its values joined by ``\\`` (PS3.5 6.4, value multiplicity)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from webapp.dicom.values import LO, text
from webapp.extensions import db
from webapp.imaging.models import CONTRAST_LABELS, ImagingOrder
from webapp.safety.models import SUBSTANCES, PatientSafety

# PS3.3 C.2.4, Pregnancy Status (0010,21C0), Enumerated Values: 0001 not pregnant, 0002 possibly
# pregnant, 0003 definitely pregnant, 0004 unknown.
PREGNANCY_STATUS = {"no": 1, "possible": 2, "yes": 3, "unknown": 4}


def records_for(orders: list[ImagingOrder], chunk: int = 500) -> dict[Any, PatientSafety]:
    """The safety records of these orders' patients, by patient id, in a few queries (a worklist
    answer of 1,000 items once made one query per item); a patient without one is absent. Each
    item then gets ``{"safety": records.get(order.patient_id)}`` (``items.item_values(known=...)``)."""
    ids = list(dict.fromkeys(order.patient_id for order in orders))
    found: dict[Any, PatientSafety] = {}
    for start in range(0, len(ids), chunk):  # SQLite's bound parameters stay few
        statement = select(PatientSafety).where(PatientSafety.patient_id.in_(ids[start:start + chunk]))
        found.update((record.patient_id, record) for record in db.session.scalars(statement))
    return found


def _record(order: ImagingOrder, ctx) -> PatientSafety | None:
    if "safety" not in ctx.cache:
        ctx.cache["safety"] = db.session.get(PatientSafety, order.patient_id)
    return ctx.cache["safety"]


def _multi(values: list[str]) -> str:
    return "\\".join(value.replace("\\", "/") for value in values)


def medical_alerts(order: ImagingOrder, ctx) -> str:
    cleared = set(order.safety_cleared_codes or ())
    return _multi([text(f"{a.get('severity', '').upper()} {a.get('code', '')}"
                        f"{' CLEARED' if a.get('code') in cleared else ''}", LO) for a in order.safety_alerts or ()])


def contrast_allergies(order: ImagingOrder, ctx) -> str:
    record = _record(order, ctx)
    found = []
    for allergy in record.contrast_allergies if record else ():
        name = SUBSTANCES.get(allergy.get("substance"), allergy.get("substance") or "")
        reaction = ", ".join(filter(None, [allergy.get("severity"), allergy.get("reaction")]))
        found.append(text(f"{name} ({reaction})" if reaction else name, LO))
    return _multi(found)


def pregnancy_status(order: ImagingOrder, ctx) -> Any:
    record = _record(order, ctx)
    return PREGNANCY_STATUS.get(record.pregnancy) if record and record.pregnancy else None


def patient_weight(order: ImagingOrder, ctx) -> Any:
    record = _record(order, ctx)
    return f"{record.weight_kg:g}"[:16] if record and record.weight_kg else None


def requested_contrast_agent(order: ImagingOrder, ctx) -> str:
    return CONTRAST_LABELS[order.contrast] if order.contrast != "none" else ""
