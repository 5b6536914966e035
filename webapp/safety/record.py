"""A patient's safety record: its values checked, saved with who changed what (the append-only
``safety_record_changes``), and the patient's open orders screened again, each order whose alerts
change getting a timeline entry and a live event through the services (the one road)."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from webapp.audit.locking import lock_order_writes
from webapp.db_types import clinic_today, utcnow
from webapp.errors import StaleVersion, ValidationFailed
from webapp.extensions import db
from webapp.imaging import services
from webapp.imaging.models import ImagingOrder
from webapp.safety.models import MR_SAFETY, PREGNANCY, SEVERITIES, SUBSTANCES, PatientSafety, SafetyRecordChange
from webapp.safety.screening import alerts_for_order

MAX_ITEMS = 20  # allergies, implants
NAME_LIMIT = 200
EGFR_RANGE = (0.0, 200.0)  # mL/min/1.73 m²: above 0, at most 200
WEIGHT_RANGE = (0.3, 500.0)  # kg
SCREENED_STATUSES = ("ordered", "scheduled", "in_progress")
FIELDS = ("allergies", "egfr_value", "egfr_measured_on", "pregnancy", "pregnancy_asked_on", "implants",
          "on_metformin", "weight_kg", "diabetes", "renal_disease")


class StaleRecord(StaleVersion, title="The safety record was changed by someone else"):
    """Someone else saved the record since it was read (412)."""


def as_json(record: PatientSafety | None) -> dict:
    """The record as the API shows it (CONTRACT: allergies, egfr, pregnancy, implants, on_metformin,
    weight_kg), plus the dates asked and the risk factors the rules read."""
    if record is None:
        return {"allergies": [], "egfr": None, "pregnancy": None, "pregnancy_asked_on": None, "implants": [],
                "on_metformin": False, "weight_kg": None, "diabetes": False, "renal_disease": False,
                "version": 0, "updated_at": None, "updated_by": None}
    egfr = None if record.egfr_value is None else {
        "value": record.egfr_value, "measured_on": record.egfr_measured_on.isoformat()
        if record.egfr_measured_on else None}
    return {
        "allergies": list(record.allergies or []), "egfr": egfr, "pregnancy": record.pregnancy,
        "pregnancy_asked_on": record.pregnancy_asked_on.isoformat() if record.pregnancy_asked_on else None,
        "implants": list(record.implants or []), "on_metformin": bool(record.on_metformin),
        "weight_kg": record.weight_kg, "diabetes": bool(record.diabetes), "renal_disease": bool(record.renal_disease),
        "version": record.version, "updated_at": record.updated_at.isoformat() if record.updated_at else None,
        "updated_by": record.updated_by_label,
    }


# ---------------------------------------------------------------------------- checks


def _text(value: Any, where: str, errors: dict, *, required: bool = False) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors[where] = "Required."
        return None
    if not isinstance(value, str):
        errors[where] = "Must be text."
        return None
    value = value.strip()
    if len(value) > NAME_LIMIT:
        errors[where] = f"At most {NAME_LIMIT} characters."
        return None
    return value


def _choice(value: Any, allowed: dict, where: str, errors: dict, *, required: bool = False) -> str | None:
    if value in (None, ""):
        if required:
            errors[where] = f"Required: one of {', '.join(allowed)}."
        return None
    if value not in allowed:
        errors[where] = f"Must be one of {', '.join(allowed)}."
        return None
    return value


def _number(value: Any, bounds: tuple[float, float], where: str, errors: dict) -> float | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not bounds[0] < value <= bounds[1]:
        errors[where] = f"A number above {bounds[0]:g} and at most {bounds[1]:g}."
        return None
    return float(value)


def _past_day(value: Any, where: str, errors: dict, today: date) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            errors[where] = "A date (YYYY-MM-DD)."
            return None
    if not isinstance(value, date) or isinstance(value, datetime):
        errors[where] = "A date (YYYY-MM-DD)."
        return None
    if value > today or value.year < 1900:
        errors[where] = "Must be a past date (today at the latest)."
        return None
    return value


def _flag(value: Any, where: str, errors: dict) -> bool:
    if value in (None, False):
        return False
    if value is True:
        return True
    errors[where] = "Must be true or false."
    return False


def _items(value: Any, where: str, errors: dict) -> list:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        errors[where] = "Must be a list of objects."
        return []
    if len(value) > MAX_ITEMS:
        errors[where] = f"At most {MAX_ITEMS}."
        return []
    return value


def check_values(given: dict, today: date | None = None) -> dict:
    """The record's values checked and cleaned (ValidationFailed names every bad field)."""
    today = today or clinic_today()
    errors: dict[str, str] = {}
    allergies = []
    for index, item in enumerate(_items(given.get("allergies"), "allergies", errors)):
        allergies.append({
            "substance": _choice(item.get("substance"), SUBSTANCES, f"allergies.{index}.substance", errors, required=True),
            "reaction": _text(item.get("reaction"), f"allergies.{index}.reaction", errors),
            "severity": _choice(item.get("severity"), SEVERITIES, f"allergies.{index}.severity", errors),
        })
    implants = []
    for index, item in enumerate(_items(given.get("implants"), "implants", errors)):
        implants.append({
            "name": _text(item.get("name"), f"implants.{index}.name", errors, required=True),
            "mr_safety": _choice(item.get("mr_safety"), MR_SAFETY, f"implants.{index}.mr_safety", errors, required=True),
        })
    egfr = given.get("egfr")
    egfr_value = egfr_on = None
    if egfr is not None:
        if not isinstance(egfr, dict):
            errors["egfr"] = "Must be {value, measured_on} or null."
        else:
            egfr_value = _number(egfr.get("value"), EGFR_RANGE, "egfr.value", errors)
            egfr_on = _past_day(egfr.get("measured_on"), "egfr.measured_on", errors, today)
            if egfr_value is None and "egfr.value" not in errors:
                errors["egfr.value"] = "Required with an eGFR (or send egfr: null)."
            if egfr_on is None and "egfr.measured_on" not in errors:
                errors["egfr.measured_on"] = "Say when the eGFR was measured."
    values = {
        "allergies": allergies, "implants": implants, "egfr_value": egfr_value, "egfr_measured_on": egfr_on,
        "pregnancy": _choice(given.get("pregnancy"), PREGNANCY, "pregnancy", errors),
        "pregnancy_asked_on": _past_day(given.get("pregnancy_asked_on"), "pregnancy_asked_on", errors, today),
        "on_metformin": _flag(given.get("on_metformin"), "on_metformin", errors),
        "weight_kg": _number(given.get("weight_kg"), WEIGHT_RANGE, "weight_kg", errors),
        "diabetes": _flag(given.get("diabetes"), "diabetes", errors),
        "renal_disease": _flag(given.get("renal_disease"), "renal_disease", errors),
    }
    if errors:
        raise ValidationFailed(errors)
    return values


# ---------------------------------------------------------------------------- saving


def _shown(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def save(who, patient, given: dict, *, expected_version: int | None = None, now: datetime | None = None
         ) -> PatientSafety:
    """Replace the patient's record with ``given``; record who changed what; screen the open orders
    again. ``expected_version``: the version read (0: there was none), else StaleRecord."""
    actor = services._actor(who)
    moment = now or utcnow()
    values = check_values(given, clinic_today(moment))
    # The record may change the patient's orders: the audit chain's lock first, as every order write
    # takes it (webapp.audit.locking), then the record's row.
    lock_order_writes(db.session)
    record = db.session.get(PatientSafety, patient.id, with_for_update=True)
    current = record.version if record is not None else 0
    if expected_version is not None and expected_version != current:
        raise StaleRecord(f"The safety record of {patient.full_name} was changed by someone else "
                          f"(you had version {expected_version}, it is now {current}).", current_version=current)
    if record is None:
        record = PatientSafety(patient_id=patient.id, allergies=[], implants=[])
        db.session.add(record)
    diff = {}
    for name in FIELDS:
        old = getattr(record, name) if current else None
        if name in ("allergies", "implants"):
            old = list(old or [])
        if name in ("on_metformin", "diabetes", "renal_disease"):
            old = bool(old)
        if old != values[name]:
            diff[name] = {"from": _shown(old), "to": _shown(values[name])}
            setattr(record, name, values[name])
    if not diff and current:
        return record
    record.updated_at = moment
    record.updated_by_label = actor.label[:128]
    db.session.add(SafetyRecordChange(patient_id=patient.id, actor_id=actor.user_id, actor_label=actor.label[:128],
                                      actor_role=actor.role, created_at=moment, changes=diff))
    db.session.flush()
    rescreen(actor, patient.id, record, moment)
    return record


def rescreen(actor, patient_id, record: PatientSafety, moment: datetime) -> list[ImagingOrder]:
    """Screen the patient's open orders again; those whose alerts changed are recorded and published."""
    orders = db.session.scalars(select(ImagingOrder).where(
        ImagingOrder.patient_id == patient_id, ImagingOrder.status.in_(SCREENED_STATUSES),
    ).order_by(ImagingOrder.ordered_date).with_for_update(of=ImagingOrder)).unique().all()
    changed = []
    for order in orders:
        alerts = alerts_for_order(order, record, clinic_today(moment))
        if alerts != (order.safety_alerts or []):
            services.record_safety_alerts(actor, order, alerts)
            changed.append(order)
    return changed


def history(patient_id, limit: int = 50) -> list[SafetyRecordChange]:
    return list(db.session.scalars(
        select(SafetyRecordChange).where(SafetyRecordChange.patient_id == patient_id)
        .order_by(SafetyRecordChange.id.desc()).limit(limit)))
