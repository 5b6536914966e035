"""Modality Performed Procedure Step (IHE RAD-6 and RAD-7) on the order's status.

N-CREATE with status IN PROGRESS starts the order with the accession number the scanner took
from the worklist; N-SET COMPLETED completes it with the number of images it reports;
N-SET DISCONTINUED is recorded on the order. Every change goes through
``webapp.imaging.services`` as a technician-like actor named after the scanner, in one
transaction per request, so it is audited and published like any other change.

An N-CREATE must name the order's patient (``webapp.dicom.mpps_people``): one that does not is
refused, and the refusal is written on the order's timeline for the department to see. So is one
from a registered station (``flask stations add``) of another modality than the order's: an X-ray
room cannot start a CT order (0110, the order untouched). A calling AE title that is no
registered station is not checked for its modality (DICOM_ALLOWED_AE_TITLES decides who may call).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from webapp.auth.models import User
from webapp.db_retry import run_in_transaction
from webapp.dicom.models import PerformedProcedureStep
from webapp.dicom.mpps_people import find_technician, operator_name, operator_note, patient_mismatch, sent_patient
from webapp.dicom.values import LO, person_name, text
from webapp.errors import NotFound, ServiceError
from webapp.extensions import db, writing
from webapp.imaging import queries, services
from webapp.imaging.models import Station
from webapp.safety import screening

log = logging.getLogger(__name__)

SUCCESS = 0x0000
INVALID_ATTRIBUTE_VALUE = 0x0106
PROCESSING_FAILURE = 0x0110
DUPLICATE_SOP_INSTANCE = 0x0111
NO_SUCH_OBJECT_INSTANCE = 0x0112
MISSING_ATTRIBUTE_VALUE = 0x0121


@dataclass
class MppsFailure(Exception):
    status: int
    comment: str

    def as_dataset(self) -> Dataset:
        ds = Dataset()
        ds.Status = self.status
        ds.ErrorComment = text(self.comment, LO)
        return ds


def scanner(ae_title: str, operator: User | None = None) -> services.Actor:
    """The actor a scanner's MPPS message acts as: a technician's rights, the scanner's name, and
    the technician its operator named, if any (who becomes the order's performing technician)."""
    return services.Actor(role="technician", label=f"Modality {ae_title}", user=operator, scanner_ae=ae_title)


def count_images(ds: Dataset) -> int | None:
    """Images referenced in the Performed Series Sequence, or None when it is absent."""
    if "PerformedSeriesSequence" not in ds:
        return None
    total = 0
    for series in ds.PerformedSeriesSequence:
        total += len(series.get("ReferencedImageSequence") or [])
    return total


def _accession_number(ds: Dataset) -> str:
    for item in ds.get("ScheduledStepAttributesSequence") or []:
        if item.get("AccessionNumber"):
            return str(item.AccessionNumber).strip()
    return str(ds.get("AccessionNumber") or "").strip()


def _discontinuation_reason(ds: Dataset) -> str:
    for item in ds.get("PerformedProcedureStepDiscontinuationReasonCodeSequence") or []:
        if item.get("CodeMeaning"):
            return f"Procedure step discontinued on the scanner: {item.CodeMeaning}"
    return "Procedure step discontinued on the scanner."


def _read(dataset_getter) -> Dataset:
    try:
        ds = dataset_getter()
        # pydicom decodes lazily: touch every element so a broken message fails here.
        for _ in ds.iterall():
            pass
        return ds
    except Exception as exc:
        raise MppsFailure(INVALID_ATTRIBUTE_VALUE, f"Attribute list cannot be decoded: {exc}") from exc


def _transaction(app, work):
    """Run ``work()`` in one writing transaction; any failure rolls back and becomes a DICOM status."""
    def attempt():
        result = work()
        db.session.commit()
        return result

    with app.app_context(), writing():
        try:
            # A deadlock or serialization failure rolls back everything: run the step again.
            return run_in_transaction(attempt, "MPPS")
        except MppsFailure:
            db.session.rollback()
            raise
        except NotFound as exc:
            db.session.rollback()
            raise MppsFailure(INVALID_ATTRIBUTE_VALUE, exc.detail) from exc
        except ServiceError as exc:
            db.session.rollback()
            raise MppsFailure(PROCESSING_FAILURE, exc.detail) from exc
        except SQLAlchemyError as exc:
            db.session.rollback()
            log.exception("MPPS: database error")
            raise MppsFailure(PROCESSING_FAILURE, "The order database could not record the step.") from exc


def create(app, ae_title: str, sop_instance_uid: str | None, get_attributes) -> tuple[int | Dataset, Dataset | None]:
    """N-CREATE: the scanner started an order's procedure step."""
    try:
        ds = _read(get_attributes)
        status = str(ds.get("PerformedProcedureStepStatus") or "").strip()
        if status != "IN PROGRESS":
            raise MppsFailure(INVALID_ATTRIBUTE_VALUE, "A new procedure step must be IN PROGRESS.")
        accession = _accession_number(ds)
        if not accession:
            raise MppsFailure(MISSING_ATTRIBUTE_VALUE, "No accession number: unscheduled steps are not tracked.")
        uid = str(sop_instance_uid or generate_uid())

        def work():
            if db.session.get(PerformedProcedureStep, uid) is not None:
                raise MppsFailure(DUPLICATE_SOP_INSTANCE, f"Procedure step {uid} exists already.")
            order = queries.get_order_by_accession(accession)
            refusal = _refuse_another_patient(ae_title, ds, order) or _refuse_another_modality(ae_title, order)
            if refusal is not None:
                return refusal  # committed with its timeline entry, then answered
            not_ready = _refuse_not_ready(ae_title, order)
            if not_ready is not None:
                return not_ready  # the same: the refusal is on the timeline
            operator = operator_name(ds)
            technician = find_technician(operator) if operator else None
            actor = scanner(ae_title, technician)
            note = operator_note(operator, technician)
            restarted = order.status == "in_progress" and db.session.scalar(
                db.select(PerformedProcedureStep).where(
                    PerformedProcedureStep.order_id == order.id, PerformedProcedureStep.status == "DISCONTINUED"
                ).limit(1)
            )
            if restarted:
                # The scanner starts again after discontinuing: the order is still in progress.
                services.add_note(actor, order, " ".join(filter(None, ["Procedure step restarted on the scanner.", note])))
            else:
                services.start_order(actor, order, note=note)
            db.session.add(PerformedProcedureStep(
                sop_instance_uid=uid, order_id=order.id, station_ae=text(ae_title, 16),
                status="IN PROGRESS", number_of_images=count_images(ds),
            ))
            return order.accession_number

        accession_number = _transaction(app, work)
        if isinstance(accession_number, MppsFailure):
            raise accession_number
    except MppsFailure as failure:
        log.warning("MPPS N-CREATE from %s refused: %s", ae_title, failure.comment)
        return failure.as_dataset(), None
    log.info("MPPS N-CREATE from %s: %s in progress (%s)", ae_title, accession_number, uid)
    reply = Dataset()
    reply.update(ds)
    if sop_instance_uid is None:
        reply.AffectedSOPInstanceUID = uid
    return SUCCESS, reply


def _refuse_another_patient(ae_title: str, ds: Dataset, order) -> MppsFailure | None:
    """The step names another patient (or none): write it on the order's timeline, answer a failure."""
    reason = patient_mismatch(ds, order)
    if reason is None:
        return None
    patient_id, name = sent_patient(ds)
    sent = " and ".join(filter(None, [f"Patient ID {patient_id}" if patient_id else "no Patient ID",
                                      f"name {name}" if name else ""]))
    ours = f"{order.patient.mrn} ({person_name(order.patient.last_name, order.patient.first_name)})"
    note = (f"MPPS refused: patient mismatch from station {ae_title}. The scanner sent {sent}; "
            f"the order is for {ours}. The order was not started.")
    services.record_refused_step(scanner(ae_title), order, note)
    log.warning("MPPS N-CREATE from %s for %s refused: patient mismatch (%s)", ae_title, order.accession_number, reason)
    status = MISSING_ATTRIBUTE_VALUE if not patient_id else PROCESSING_FAILURE
    return MppsFailure(status, f"Patient mismatch: {reason}")


def _refuse_another_modality(ae_title: str, order) -> MppsFailure | None:
    """A registered station of another modality than the order's: on the order's timeline, then 0110."""
    station = db.session.scalar(select(Station).where(Station.ae_title == str(ae_title or "").strip().upper()))
    if station is None or station.modality == order.modality:
        return None
    note = (f"MPPS refused: station {station.ae_title} ({station.room or 'no room'}) is a {station.modality} "
            f"station and the order is {order.modality}. The order was not started.")
    services.record_refusal(scanner(ae_title), order, "mpps_refused", note)
    log.warning("MPPS N-CREATE from %s for %s refused: %s station, %s order", ae_title, order.accession_number,
                station.modality, order.modality)
    return MppsFailure(PROCESSING_FAILURE, f"Station {station.ae_title} is {station.modality}; the order is "
                                           f"{order.modality}.")


def _refuse_not_ready(ae_title: str, order) -> MppsFailure | None:
    """The order may not start yet (no protocol, a safety stop not cleared; webapp.safety): write it
    on the order's timeline, answer a failure."""
    if order.status != "scheduled":
        return None
    reason = screening.start_refusal(order)
    if reason is None:
        return None
    services.record_refused_step(scanner(ae_title), order, f"MPPS refused from station {ae_title}: {reason.detail} "
                                                          "The order was not started.")
    log.warning("MPPS N-CREATE from %s for %s refused: %s", ae_title, order.accession_number, reason.title)
    return MppsFailure(PROCESSING_FAILURE, f"{reason.title}: {order.accession_number}")


def update(app, ae_title: str, sop_instance_uid: str, get_modifications) -> tuple[int | Dataset, Dataset | None]:
    """N-SET: the scanner updated, completed or discontinued a procedure step."""
    try:
        ds = _read(get_modifications)
        status = str(ds.get("PerformedProcedureStepStatus") or "").strip() or None
        if status not in (None, "IN PROGRESS", "COMPLETED", "DISCONTINUED"):
            raise MppsFailure(INVALID_ATTRIBUTE_VALUE, f"Unknown procedure step status {status!r}.")
        images = count_images(ds)
        actor = scanner(ae_title)

        def work():
            step = db.session.get(PerformedProcedureStep, str(sop_instance_uid))
            if step is None:
                raise MppsFailure(NO_SUCH_OBJECT_INSTANCE, f"No procedure step {sop_instance_uid}.")
            if step.is_final:
                raise MppsFailure(PROCESSING_FAILURE, f"The procedure step is {step.status}; no more changes.")
            if images is not None:
                step.number_of_images = images
            order = queries.get_order(step.order_id)
            if status == "COMPLETED":
                services.complete_order(actor, order, number_of_images=step.number_of_images)
            elif status == "DISCONTINUED":
                services.record_discontinued(actor, order, _discontinuation_reason(ds))
            step.status = status or step.status
            return order.accession_number

        accession_number = _transaction(app, work)
    except MppsFailure as failure:
        log.warning("MPPS N-SET from %s refused: %s", ae_title, failure.comment)
        return failure.as_dataset(), None
    log.info("MPPS N-SET from %s: %s %s", ae_title, accession_number, status or "updated")
    return SUCCESS, ds
