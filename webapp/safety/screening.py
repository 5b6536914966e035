"""How the safety rules bear on orders: the alerts of an order (or of an exam the order form is
about to place), what a stop and a missing protocol refuse, and the steps of the three safety
actions (clear a stop, protocol, arrival), which webapp.imaging.steps runs on the one road."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select

from webapp.db_types import clinic_today
from webapp.errors import TransitionNotAllowed
from webapp.extensions import db
from webapp.imaging.models import ImagingOrder, Procedure
from webapp.safety.models import PatientSafety
from webapp.safety.rules import Facts, evaluate

PROTOCOL_MODALITIES = frozenset({"CT", "MRI"})  # with contrast they need a protocol by default


class SafetyStop(TransitionNotAllowed, title="Safety stop not cleared", kind="safety-stop"):
    """An order with a stop a radiologist has not cleared: not booked, not scanned (409)."""

    def __init__(self, detail: str, alerts: list[dict]) -> None:
        super().__init__(detail)
        self.alerts = alerts

    def extra(self) -> dict:
        return {"safety_alerts": self.alerts}


class NotProtocoled(TransitionNotAllowed, title="Not protocoled", kind="protocol-required"):
    """The order needs a radiologist's protocol before the scan starts (409)."""


class NotReady(TransitionNotAllowed, title="Not possible now", kind="safety-step-refused"):
    """A safety action that does not apply to the order as it is (nothing to clear, arrived already)."""


# ---------------------------------------------------------------------------- facts and alerts


def age_on(born: date | None, day: date) -> int | None:
    if born is None:
        return None
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def facts_for(patient, record: PatientSafety | None, modality: str, body_part: str, contrast: str,
              today: date | None = None) -> Facts:
    today = today or clinic_today()
    base = dict(modality=modality or "", body_part=body_part or "", contrast=contrast or "none",
                age=age_on(patient.date_of_birth, today), today=today)
    if record is None:
        return Facts(**base)
    return Facts(
        **base, egfr=record.egfr_value, egfr_measured_on=record.egfr_measured_on, pregnancy=record.pregnancy,
        allergies=tuple(record.allergies or ()), implants=tuple(record.implants or ()),
        on_metformin=bool(record.on_metformin), diabetes=bool(record.diabetes),
        renal_disease=bool(record.renal_disease),
    )


def record_of(patient_id) -> PatientSafety | None:
    return db.session.get(PatientSafety, patient_id)


def alerts_for_exam(patient, modality: str, body_part: str, contrast: str, today: date | None = None) -> list[dict]:
    """The alerts an order of this exam would carry (the order form shows them before submitting)."""
    return evaluate(facts_for(patient, record_of(patient.id), modality, body_part, contrast, today))


def alerts_for_order(order: ImagingOrder, record: PatientSafety | None = None, today: date | None = None,
                     patient=None) -> list[dict]:
    record = record if record is not None else record_of(order.patient_id)
    return evaluate(facts_for(patient or order.patient, record, order.modality, order.body_part, order.contrast, today))


def default_contrast(procedure: Procedure | None) -> str:
    return procedure.contrast if procedure is not None and procedure.contrast else "none"


def needs_protocol(procedure: Procedure | None, modality: str, contrast: str) -> bool:
    """The procedure says so; without one (or beyond it), CT and MRI with contrast do."""
    return bool(procedure is not None and procedure.protocol_required) or (
        modality in PROTOCOL_MODALITIES and contrast not in (None, "none"))


def screen(order: ImagingOrder, procedure: Procedure | None = None, patient=None, today: date | None = None) -> None:
    """Set the order's alerts and whether it needs a protocol (on placing and editing it); only
    what differs is set, and the look-ups flush nothing (the caller's flush moves the version once)."""
    with db.session.no_autoflush:
        if procedure is None and order.procedure_code:
            procedure = db.session.get(Procedure, order.procedure_code)
        required = needs_protocol(procedure, order.modality, order.contrast)
        alerts = alerts_for_order(order, today=today, patient=patient)
    if order.protocol_required != required:
        order.protocol_required = required
    if order.safety_alerts != alerts:
        order.safety_alerts = alerts


def codes(alerts: list[dict] | None) -> list[str]:
    return [a["code"] for a in alerts or ()]


# ---------------------------------------------------------------------------- refusals


def _stop_text(order: ImagingOrder, stops: list[dict]) -> str:
    return (f"Order {order.accession_number} has a safety stop a radiologist has not cleared: "
            + " ".join(a["message"] for a in stops))


def check_bookable(order: ImagingOrder) -> None:
    """A stop not cleared: booking is refused (409), the alerts in the answer."""
    stops = order.open_stops
    if stops:
        raise SafetyStop(_stop_text(order, stops), stops)


def start_refusal(order: ImagingOrder) -> TransitionNotAllowed | None:
    """Why the scan may not start now (no protocol yet, a stop not cleared), or None."""
    if order.awaiting_protocol:
        return NotProtocoled(f"Order {order.accession_number} needs a radiologist's protocol before the scan starts.")
    stops = order.open_stops
    if stops:
        return SafetyStop(_stop_text(order, stops), stops)
    return None


def check_startable(order: ImagingOrder) -> None:
    refusal = start_refusal(order)
    if refusal is not None:
        raise refusal


# ---------------------------------------------------------------------------- the safety actions' steps


def clear_stops(order: ImagingOrder, actor, reason: str, moment: datetime) -> dict:
    """A radiologist clears the order's open stops, with a reason."""
    stops = order.open_stops
    if not stops:
        raise NotReady(f"Order {order.accession_number} has no safety stop to clear.")
    order.safety_cleared_codes = sorted(set(order.safety_cleared_codes or ()) | set(codes(stops)))
    order.safety_cleared_by = actor.user_id
    order.safety_cleared_at = moment
    order.safety_override_reason = reason
    return {"cleared": codes(stops), "reason": reason}


def set_protocol(order: ImagingOrder, actor, protocol: str, notes: str | None, moment: datetime) -> dict:
    changes = {"protocol": {"from": order.protocol, "to": protocol}}
    if notes != order.protocol_notes:
        changes["protocol_notes"] = {"from": order.protocol_notes, "to": notes}
    order.protocol, order.protocol_notes = protocol, notes
    order.protocoled_by, order.protocoled_at = actor.user_id, moment
    return changes


def arrive(order: ImagingOrder, actor, moment: datetime) -> dict:
    if order.arrived_at is not None:
        raise NotReady(f"The patient of order {order.accession_number} has arrived already.")
    order.arrived_at = moment
    return {"arrived_at": moment.isoformat()}


# ---------------------------------------------------------------------------- protocol choices


def last_protocol(order: ImagingOrder) -> str | None:
    """The protocol this patient's last order of the same procedure had, if any."""
    if not order.procedure_code:
        return None
    return db.session.scalar(
        select(ImagingOrder.protocol).where(
            ImagingOrder.patient_id == order.patient_id, ImagingOrder.procedure_code == order.procedure_code,
            ImagingOrder.protocol.is_not(None), ImagingOrder.id != order.id,
        ).order_by(ImagingOrder.protocoled_at.desc()).limit(1)
    )


def protocol_choices(order: ImagingOrder) -> list[str]:
    """The protocols to offer: the last one given to this patient for this procedure first, then the
    procedure's list."""
    offered: list[str] = []
    if order.procedure_code:
        last = last_protocol(order)
        if last:
            offered.append(last)
        procedure = db.session.get(Procedure, order.procedure_code)
        offered += [p for p in (procedure.protocols if procedure else []) or [] if p not in offered]
    return offered
