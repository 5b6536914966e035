"""ADT from the hospital's EHR on the HL7 listener (HL7 v2.5.1 chapter 3, Patient Administration).

- ``A01`` admit, ``A04`` register: a new MRN (PID-3) is registered from PID; a known one is
  updated (given name, sex, the assigning authority where we had none) when its family name and
  birth date agree. A known MRN whose family name or birth date differ is refused (AE "patient
  demographics differ"): only A08 changes who a record names, so an admission never renames a
  patient in passing. A visit number in PV1-19 opens the visit (attending doctor: PV1-7, else
  PV1-8, by provider id or user name). AA carries the MRN.
- ``A08`` update: the patient of PID-3 takes PID-5, -7, -8 and PID-3.4 as sent; the worklist and
  every later message show them. An unknown MRN is AE.
- ``A40`` merge: MRG-1 is the prior MRN, PID-3 the survivor (whose family name and birth date
  must agree with PID). The prior patient's visits and orders move to the survivor, each order's
  timeline says so (event ``patient_merged``), and the prior record is kept, marked merged: its
  MRN resolves to the survivor from then on. AE when either is unknown or both are one.

The identity rule is webapp.patients.identity's, applied through webapp.hl7.pid.
"""

from __future__ import annotations

from sqlalchemy import select

from webapp.auth.roles import Role
from webapp.extensions import db
from webapp.hl7.pid import Pid, mismatch, refuse_if_differs, upsert_patient
from webapp.hl7.refusal import REQUIRED, UNKNOWN_KEY, Refusal
from webapp.imaging import services
from webapp.imaging.models import ImagingOrder
from webapp.patients.models import Patient
from webapp.patients.queries import patient_by_mrn
from webapp.visits.models import Visit


def apply(incoming, kind: str) -> str:
    """The ADT event's change (flushed): the MRN of the patient it leaves, for MSA-3."""
    event = kind.split("^")[1]
    if event in ("A01", "A04"):
        return register(incoming, event)
    if event == "A08":
        return update(incoming)
    return merge(incoming)


def register(incoming, event: str) -> str:
    from webapp.hl7.inbound import find_visit

    pid = Pid.of(incoming)
    patient, created = upsert_patient(pid)
    if not created:
        refuse_if_differs(patient, pid)
        patient.first_name = pid.first_name or patient.first_name
        if pid.sex != "unknown":
            patient.sex = pid.sex
        patient.mrn_issuer = patient.mrn_issuer or pid.issuer
        db.session.flush()
    if incoming.value("PV1", 19):
        reason = (incoming.value("PV2", 3, 2) or incoming.value("PV2", 3, 1) or incoming.value("DG1", 3, 2)
                  or ("Admission" if event == "A01" else "Registration"))
        find_visit(incoming, patient, None, reason)
    return patient.mrn


def update(incoming) -> str:
    """A08: the demographics of the patient of PID-3 as PID now says."""
    pid = Pid.of(incoming)
    patient = patient_by_mrn(pid.mrn, lock=True)
    if patient is None:
        raise Refusal("AE", f"Unknown patient {pid.mrn} (PID-3): register with A01 or A04 first.", UNKNOWN_KEY)
    pid.require_demographics()
    patient.last_name, patient.first_name, patient.date_of_birth = pid.last_name, pid.first_name, pid.birth_date
    if pid.sex != "unknown" or incoming.value("PID", 8):
        patient.sex = pid.sex
    if pid.issuer:
        patient.mrn_issuer = pid.issuer
    db.session.flush()
    return patient.mrn


def merge(incoming) -> str:
    """A40: the prior patient (MRG-1) merged into the survivor (PID-3)."""
    pid = Pid.of(incoming)
    prior_mrn = incoming.value("MRG", 1, required="prior patient identifier, the prior MRN")
    survivor = patient_by_mrn(pid.mrn, lock=True)
    if survivor is None:
        raise Refusal("AE", f"Unknown surviving patient {pid.mrn} (PID-3).", UNKNOWN_KEY)
    reason = mismatch(survivor, pid, resolved_by_mrn=True)
    if reason is not None:
        raise Refusal("AE", f"patient demographics differ: {reason} (MRN {survivor.mrn}).", UNKNOWN_KEY)
    prior = patient_by_mrn(prior_mrn, follow_merges=False, lock=True)
    if prior is None:
        raise Refusal("AE", f"Unknown prior patient {prior_mrn} (MRG-1).", UNKNOWN_KEY)
    if prior.id == survivor.id:
        raise Refusal("AE", "MRG-1 and PID-3 name one patient: nothing to merge.", REQUIRED)
    if prior.merged_into_id is not None:
        if prior.merged_into_id == survivor.id:
            return survivor.mrn  # the EHR sends the merge again
        raise Refusal("AE", f"Patient {prior.mrn} was merged into another patient already.", UNKNOWN_KEY)
    sender = incoming.value("MSH", 3) or "EHR"
    actor = services.Actor(role=Role.ADMIN, label=f"HL7 ADT^A40 from {sender}")
    note = (f"Patient merge (ADT^A40 from {sender}, message {incoming.value('MSH', 10)}): the order moved from "
            f"{prior.mrn} ({prior.last_name}, {prior.first_name}) to {survivor.mrn} "
            f"({survivor.last_name}, {survivor.first_name}).")
    for visit in db.session.scalars(select(Visit).where(Visit.patient_id == prior.id)):
        visit.patient_id = survivor.id
    orders = db.session.scalars(select(ImagingOrder).where(ImagingOrder.patient_id == prior.id)
                                .order_by(ImagingOrder.created_at)).all()
    for order in orders:
        services.move_to_patient(actor, order, survivor.id, note)
    prior.merged_into_id = survivor.id
    db.session.flush()
    return survivor.mrn


__all__ = ["Patient", "apply"]
