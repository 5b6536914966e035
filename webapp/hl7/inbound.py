"""Messages from an EHR: ORM^O01 ``NW`` places an order, ``CA`` cancels one; ADT (webapp.hl7.adt)
registers, updates and merges patients. Each is answered with an ACK.

A new order is placed through webapp.imaging.services.create_order as the ordering provider
(ORC-12, else OBR-16) would place it on the page: that provider must be an enabled doctor account
(by provider id, else user name: webapp.hl7.providers), else the message is refused (AR). The
patient is found by MRN (PID-3) and registered from PID when absent (webapp.hl7.pid: an upsert);
a known patient whose family name or birth date differ from PID's is refused (AE "patient
demographics differ"), nothing placed. The visit is found by its number (PV1-19), opened when
absent. The procedure comes from OBR-4 (a code of the procedure catalogue). Everything happens in
one transaction: a message answered AE or AR has changed nothing. A NW whose placer number
(ORC-2) is known already answers AA with that order's accession number again (an EHR's resend).

A cancel must name the order's patient in PID (same rule): one that does not is refused (AE), the
order is left as it was, and the refusal is written on its timeline (event ``hl7_refused``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import hl7
from sqlalchemy import select

from webapp.auth.models import User
from webapp.auth.roles import Role
from webapp.errors import ServiceError
from webapp.extensions import db
from webapp.hl7.mapping import PRIORITY_FROM_CODE
from webapp.hl7.models import Hl7PlacerOrder, Hl7VisitNumber
from webapp.hl7.pid import DEMOGRAPHICS_DIFFER, Pid, hl7_date, mismatch, refuse_if_differs, upsert_patient
from webapp.hl7.providers import find_doctor
from webapp.hl7.refusal import (
    BAD_TYPE,
    BAD_VALUE,
    INTERNAL,
    REQUIRED,
    UNKNOWN_KEY,
    UNSUPPORTED_EVENT,
    UNSUPPORTED_TYPE,
    UNSUPPORTED_VERSION,
    Refusal,
)
from webapp.imaging import services
from webapp.imaging.models import ImagingOrder, Procedure
from webapp.patients.models import Patient
from webapp.patients.queries import patient_by_mrn
from webapp.visits.models import Diagnosis, Visit

__all__ = ["Incoming", "Refusal", "apply", "parse"]
LATERALITY_CODES = {"L": "left", "LEFT": "left", "R": "right", "RIGHT": "right", "B": "bilateral",
                    "BILATERAL": "bilateral"}


@dataclass
class Incoming:
    message: hl7.Message

    def value(self, segment: str, field: int, component: int = 1, *, required: str | None = None) -> str:
        """One component of the first ``segment``, unescaped and stripped ("" when absent)."""
        try:
            text = str(self.message.extract_field(segment, 1, field, 1, component)).strip()
        except (KeyError, IndexError):
            text = ""
        if not text and required:
            raise Refusal("AE", f"{segment}-{field} ({required}) is required.", REQUIRED)
        return text

    def has(self, segment: str) -> bool:
        try:
            self.message.segment(segment)
        except KeyError:
            return False
        return True

    def header(self) -> dict[str, str]:
        return {
            "application": self.value("MSH", 3), "facility": self.value("MSH", 4),
            "control_id": self.value("MSH", 10), "trigger": self.value("MSH", 9, 2),
        }


def parse(text: str) -> Incoming:
    """The message, or Refusal AR when it is not an HL7 v2 ORM^O01 at all."""
    try:
        message = hl7.parse(text.replace("\r\n", "\r").replace("\n", "\r").strip("\r"))
        message.segment("MSH")
    except (hl7.ParseException, KeyError, IndexError, ValueError):
        raise Refusal("AR", "Not an HL7 v2 message (no MSH segment).", UNSUPPORTED_TYPE) from None
    return Incoming(message)


TAKEN = {"ORM^O01", "ADT^A01", "ADT^A04", "ADT^A08", "ADT^A40"}


def check_header(incoming: Incoming) -> str:
    """The message's type and event ("ORM^O01", "ADT^A08", ...); Refusal AR when it is not one we take."""
    kind = f"{incoming.value('MSH', 9, 1)}^{incoming.value('MSH', 9, 2)}".upper()
    if kind not in TAKEN:
        raise Refusal("AR", f"Message type {kind} is not taken here; send ORM^O01 or ADT^A01, A04, A08, A40.",
                      UNSUPPORTED_TYPE)
    version = incoming.value("MSH", 12)
    if not version.startswith("2."):
        raise Refusal("AR", f"HL7 version {version or '(none)'} is not supported; send 2.5.1.", UNSUPPORTED_VERSION)
    if not incoming.value("MSH", 10):
        raise Refusal("AR", "MSH-10 (message control id) is required.", REQUIRED)
    return kind


def ordering_doctor(incoming: Incoming, *, required: bool = True) -> User | None:
    """The doctor account named by ORC-12 (else OBR-16), component 1; Refusal AR when there is none."""
    provider = incoming.value("ORC", 12) or incoming.value("OBR", 16)
    if not provider:
        if required:
            raise Refusal("AE", "ORC-12 (ordering provider) is required.", REQUIRED)
        return None
    doctor = find_doctor(provider)
    if doctor is None:
        raise Refusal("AR", f"Unknown ordering provider {provider!r}: no enabled doctor account has this "
                            "provider id or user name.", UNKNOWN_KEY)
    return doctor


def attending_doctor(incoming: Incoming) -> User | None:
    """The doctor PV1-7 (attending), else PV1-8 (referring) names, when an account has that id."""
    for field in (7, 8):
        doctor = find_doctor(incoming.value("PV1", field))
        if doctor is not None:
            return doctor
    return None


def find_patient(incoming: Incoming) -> Patient:
    """By MRN (PID-3), whose family name and birth date must agree with PID; registered when absent."""
    pid = Pid.of(incoming)
    patient, created = upsert_patient(pid)
    if not created:
        refuse_if_differs(patient, pid)
    return patient


def find_visit(incoming: Incoming, patient: Patient, doctor: User | None, reason: str) -> Visit:
    """By visit number (PV1-19: the EHR's, or one of our visit ids); opened when absent."""
    number = incoming.value("PV1", 19, required="visit number")
    mapped = db.session.get(Hl7VisitNumber, number)
    visit = db.session.get(Visit, mapped.visit_id) if mapped else None
    if visit is None:
        try:
            visit = db.session.get(Visit, uuid.UUID(number))
        except ValueError:
            visit = None
    if visit is not None:
        if visit.patient_id != patient.id:
            raise Refusal("AE", f"Visit {number} belongs to another patient.", UNKNOWN_KEY)
        return visit
    if len(number) > 64:
        raise Refusal("AE", "PV1-19 (visit number) is longer than 64 characters.", BAD_TYPE)
    admitted = hl7_date(incoming.value("PV1", 44), "PV1-44")
    attending = attending_doctor(incoming) or doctor
    visit = Visit(patient_id=patient.id, reason=reason[:255], attending_doctor_id=attending.id if attending else None,
                  visit_date=datetime.combine(admitted, datetime.min.time(), UTC) if admitted else datetime.now(UTC))
    code, description = incoming.value("DG1", 3, 1), incoming.value("DG1", 3, 2)
    if code:
        visit.diagnoses.append(Diagnosis(code=code[:16], description=(description or code)[:255], position=0))
    db.session.add(visit)
    db.session.flush()
    db.session.add(Hl7VisitNumber(visit_number=number, visit_id=visit.id))
    return visit


def _procedure(incoming: Incoming) -> Procedure:
    code = incoming.value("OBR", 4, 1, required="universal service identifier, the procedure code")
    procedure = db.session.get(Procedure, code)
    if procedure is None or not procedure.is_active:
        raise Refusal("AE", f"Unknown procedure code {code!r} in OBR-4.", BAD_VALUE)
    return procedure


def _indication(incoming: Incoming) -> str:
    indication = (incoming.value("OBR", 31, 2) or incoming.value("OBR", 31, 1) or incoming.value("OBR", 13)
                  or incoming.value("DG1", 3, 2))
    if not indication:
        raise Refusal("AE", "OBR-31 (reason for study) is required.", REQUIRED)
    return indication


def _acting(incoming: Incoming, doctor: User) -> services.Actor:
    """The doctor, as the order's timeline names the change: "Dr. X (HL7 from EPIC)"."""
    return services.Actor(role=Role.DOCTOR, label=f"{doctor.display_name} (HL7 from {incoming.value('MSH', 3) or 'EHR'})",
                          user=doctor)


def new_order(incoming: Incoming) -> ImagingOrder:
    """ORC-1 NW: the order, placed as the ordering doctor would place it."""
    placer = incoming.value("ORC", 2) or incoming.value("OBR", 2)
    if not placer:
        raise Refusal("AE", "ORC-2 (placer order number) is required.", REQUIRED)
    known = db.session.scalar(select(Hl7PlacerOrder).where(Hl7PlacerOrder.placer_number == placer))
    if known is not None:
        return db.session.get(ImagingOrder, known.order_id)
    if len(placer) > 64:
        raise Refusal("AE", "ORC-2 (placer order number) is longer than 64 characters.", BAD_TYPE)
    doctor = ordering_doctor(incoming)
    procedure = _procedure(incoming)
    indication = _indication(incoming)
    patient = find_patient(incoming)
    visit = find_visit(incoming, patient, doctor, indication)
    priority_code = (incoming.value("OBR", 27, 6) or incoming.value("ORC", 7, 6) or "R").upper()[:1]
    side = incoming.value("OBR", 46).upper()
    order = services.create_order(
        _acting(incoming, doctor), patient_id=patient.id, visit_id=visit.id,
        modality=procedure.modality, body_part=procedure.body_part,
        procedure_code=procedure.code, clinical_indication=indication,
        clinical_history=incoming.value("OBR", 13) or None,
        priority=PRIORITY_FROM_CODE.get(priority_code, "routine"),
        laterality=LATERALITY_CODES.get(side, side.lower() or None),
        diagnosis_id=visit.diagnoses[0].id if visit.diagnoses else None,
    )
    db.session.add(Hl7PlacerOrder(order_id=order.id, placer_number=placer,
                                  sending_application=(incoming.value("MSH", 3) or "")[:64]))
    db.session.flush()
    return order


def cancel(incoming: Incoming) -> ImagingOrder:
    """ORC-1 CA: the order named by ORC-3 (accession number) or ORC-2 (placer number) is cancelled,
    when PID names its patient (MRN, family name, birth date)."""
    accession, placer = incoming.value("ORC", 3), incoming.value("ORC", 2)
    order = None
    if accession:
        order = db.session.scalar(select(ImagingOrder).where(ImagingOrder.accession_number == accession))
    elif placer:
        known = db.session.scalar(select(Hl7PlacerOrder).where(Hl7PlacerOrder.placer_number == placer))
        order = db.session.get(ImagingOrder, known.order_id) if known else None
    if order is None:
        raise Refusal("AE", f"No order with accession number {accession!r} or placer number {placer!r}.",
                      UNKNOWN_KEY)
    pid = Pid.of(incoming)
    named = patient_by_mrn(pid.mrn)
    reason = mismatch(order.patient, pid, resolved_by_mrn=named is not None and named.id == order.patient_id)
    if reason is not None:
        refuse_for_another_patient(incoming, order, pid, reason)
    if order.status == "cancelled":
        return order
    doctor = ordering_doctor(incoming, required=False) or db.session.get(User, order.ordered_by)
    reason = incoming.value("ORC", 16, 2) or incoming.value("ORC", 16, 1) or "Cancelled by the EHR (HL7 ORC-1 CA)."
    return services.cancel_order(_acting(incoming, doctor), order, reason)


def refuse_for_another_patient(incoming: Incoming, order: ImagingOrder, pid: Pid, reason: str) -> None:
    """The cancel names another patient: written on the order's timeline (status unchanged), then AE."""
    sender = incoming.value("MSH", 3) or "EHR"
    sent = f"{pid.mrn} ({', '.join(filter(None, [pid.last_name, pid.first_name])) or 'no name'}" + (
        f", born {pid.birth_date.isoformat()})" if pid.birth_date else ")")
    patient = order.patient
    note = (f"HL7 cancel refused: patient mismatch. {sender} (message {incoming.value('MSH', 10)}) named "
            f"{sent}; the order is for {patient.mrn} ({patient.last_name}, {patient.first_name}, born "
            f"{patient.date_of_birth.isoformat()}): {reason}. The order was not cancelled.")
    services.record_refusal(services.Actor(role=Role.DOCTOR, label=f"HL7 from {sender}"), order, "hl7_refused", note)
    raise Refusal("AE", f"{DEMOGRAPHICS_DIFFER}: {reason}; order {order.accession_number} not cancelled.",
                  UNKNOWN_KEY, recorded=True)


def apply_order(incoming: Incoming) -> str:
    """ORM^O01: the order's accession number once placed or cancelled."""
    control = incoming.value("ORC", 1, required="order control").upper()
    if control == "NW":
        return new_order(incoming).accession_number
    if control == "CA":
        return cancel(incoming).accession_number
    raise Refusal("AR", f"Order control {control} is not taken here; send NW or CA.", UNSUPPORTED_EVENT)


def apply(incoming: Incoming) -> str:
    """The change the message asks for (flushed, not committed): MSA-3 of the AA (the accession
    number of an order, the MRN of an ADT's patient); Refusal when it cannot be made."""
    from webapp.hl7 import adt

    kind = check_header(incoming)
    try:
        if kind == "ORM^O01":
            return apply_order(incoming)
        return adt.apply(incoming, kind)
    except ServiceError as exc:
        detail = "; ".join(f"{name}: {text}" for name, text in exc.errors.items()) if exc.errors else exc.detail
        raise Refusal("AE", detail, INTERNAL) from exc
