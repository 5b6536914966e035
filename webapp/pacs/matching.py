"""Matching the studies Orthanc received to orders (flushes, never commits: the caller commits).

A study is matched by its Study Instance UID first (the one the worklist gave the scanner), then
by its accession number; either way the study must be of the order's patient: Patient ID, family
name and birth date (webapp.pacs.identity, the one identity rule). A study that matches no
order, names another patient, or finds its order already holding another study is held for
review (with the reason): an admin matches it by hand (webapp.pacs.reconcile, which refuses a
study of another patient unless it is first corrected in the PACS).

A matched order gets an "images received" timeline entry through ``webapp.imaging.services``
(so it is in the audit chain and published live); with ``PACS_COMPLETES_ORDERS`` an order still
``in_progress`` (its scanner sent no MPPS) is completed from the arrival.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import func, select

from webapp.auth.models import User
from webapp.db_types import utcnow
from webapp.errors import NotFound, TransitionNotAllowed
from webapp.extensions import db
from webapp.imaging import queries, services
from webapp.imaging.models import ImagingOrder
from webapp.pacs.identity import patient_identity, study_identity, study_mismatch
from webapp.pacs.models import PacsStudy
from webapp.pacs.studies import StudySummary

PACS_ACTOR = services.Actor(role="technician", label="PACS (Orthanc)")


def record_study(summary: StudySummary, actor: services.Actor = PACS_ACTOR) -> PacsStudy:
    """Record (or update) the study Orthanc holds, and match it to its order if it has one.

    Seen again with the same images, nothing changes (the feed may be read twice); with more
    images, a matched order gets a new entry with the new totals.
    """
    study = db.session.scalar(select(PacsStudy).where(PacsStudy.orthanc_id == summary.orthanc_id))
    is_new = study is None
    if is_new:
        study = PacsStudy(orthanc_id=summary.orthanc_id, received_at=utcnow())
        db.session.add(study)
    changed = is_new or (study.series_count, study.instance_count) != (summary.series_count, summary.instance_count)
    _copy(summary, study)
    if not changed:
        return study
    study.updated_at = utcnow()
    db.session.flush()
    if study.order_id is not None:
        order = queries.get_order(study.order_id, for_update=True)
        _images_arrived(actor, order, study, note="More images arrived for the study.")
        return study
    order, reason = find_order(summary)
    if order is None:
        study.hold_reason = reason
        db.session.flush()
        return study
    _attach(actor, order, study)
    return study


def _copy(summary: StudySummary, study: PacsStudy) -> None:
    study.study_instance_uid = summary.study_instance_uid
    study.accession_number = summary.accession_number
    study.dicom_patient_id = summary.patient_id
    study.patient_name = summary.patient_name
    study.patient_birth_date = summary.patient_birth_date
    study.study_date = summary.study_date
    study.description = summary.description
    study.modalities = summary.modalities
    study.series_count = summary.series_count
    study.instance_count = summary.instance_count
    study.series = summary.series


def find_order(summary: StudySummary) -> tuple[ImagingOrder | None, str | None]:
    """The order the study belongs to, or None and why it is held for review."""
    order = None
    if summary.study_instance_uid:
        order = db.session.scalar(
            select(ImagingOrder.id).where(ImagingOrder.study_instance_uid == summary.study_instance_uid))
    if order is None and summary.accession_number:
        order = db.session.scalar(
            select(ImagingOrder.id).where(ImagingOrder.accession_number == summary.accession_number.strip().upper()))
    if order is None:
        return None, "No order has this Study Instance UID or accession number."
    order = queries.get_order(order, for_update=True)
    theirs = study_identity(summary)
    why = study_mismatch(order.patient, theirs)
    if why is not None:
        return None, (f"Not the patient of order {order.accession_number}: {why}. The study names {theirs.text}; "
                      f"the order is for {patient_identity(order.patient).text}.")
    if _study_of(order) is not None:
        return None, f"Order {order.accession_number} already has a study."
    return order, None


def _study_of(order: ImagingOrder) -> PacsStudy | None:
    return db.session.scalar(select(PacsStudy).where(PacsStudy.order_id == order.id))


def _attach(actor: services.Actor, order: ImagingOrder, study: PacsStudy, note: str | None = None) -> None:
    study.order_id = order.id
    study.hold_reason = None
    study.matched_at = utcnow()
    study.matched_by = actor.user_id
    db.session.flush()
    _images_arrived(actor, order, study, note)
    if order.status == "in_progress" and current_app.config.get("PACS_COMPLETES_ORDERS"):
        services.change_status(PACS_ACTOR, order, "completed", number_of_images=study.instance_count,
                               note="Completed when its images arrived in the PACS.")


def _images_arrived(actor: services.Actor, order: ImagingOrder, study: PacsStudy, note: str | None) -> None:
    services.record_images_received(actor, order, {
        "series": study.series_count, "instances": study.instance_count,
        "modalities": study.modalities, "study_instance_uid": study.study_instance_uid,
        "orthanc_id": study.orthanc_id,
    }, note=note)


def unmatched_studies(limit: int = 500) -> list[PacsStudy]:
    """The studies held for review, newest first."""
    return list(db.session.scalars(
        select(PacsStudy).where(PacsStudy.order_id.is_(None))
        .order_by(PacsStudy.received_at.desc(), PacsStudy.id.desc()).limit(limit)))


def candidate_orders(studies: list[PacsStudy]) -> dict[int, ImagingOrder]:
    """For each held study, the order its Study Instance UID or accession number names (if any),
    by study id: the page shows that order's patient beside the study's own."""
    found: dict[int, ImagingOrder] = {}
    for study in studies:
        order = None
        if study.study_instance_uid:
            order = db.session.scalar(select(ImagingOrder).where(
                ImagingOrder.study_instance_uid == study.study_instance_uid))
        if order is None and study.accession_number:
            order = db.session.scalar(select(ImagingOrder).where(
                ImagingOrder.accession_number == study.accession_number.strip().upper()))
        if order is not None:
            found[study.id] = order
    return found


def known_patients(studies: list[PacsStudy]) -> list:
    """Ids of our patients whose MRN is the Patient ID of one of these studies."""
    from webapp.patients.models import Patient

    mrns = {s.dicom_patient_id.strip().upper() for s in studies if s.dicom_patient_id}
    if not mrns:
        return []
    return list(db.session.scalars(select(Patient.id).where(func.upper(Patient.mrn).in_(mrns))))


def unregistered_subjects(studies: list[PacsStudy]) -> list[str]:
    """The people of these studies who are no patient of ours (their Patient ID is no MRN here),
    as the access log names them: "Patient ID (name)" (issue 26, item 13)."""
    from webapp.patients.models import Patient

    mrns = {s.dicom_patient_id.strip().upper() for s in studies if s.dicom_patient_id}
    known = set(db.session.scalars(select(func.upper(Patient.mrn)).where(func.upper(Patient.mrn).in_(mrns)))) \
        if mrns else set()
    named = []
    for study in studies:
        pid = (study.dicom_patient_id or "").strip()
        if pid.upper() in known:
            continue
        text = f"{pid or 'no Patient ID'} ({study.patient_name_shown or 'no name'})"
        if text not in named:
            named.append(text)
    return named


def held_study(study_id: int, *, for_update: bool = False) -> PacsStudy:
    """A study held for review (404 unknown, 409 matched already)."""
    study = db.session.get(PacsStudy, study_id, with_for_update=for_update or None)
    if study is None:
        raise NotFound(f"No unmatched study with id {study_id}.")
    if study.order_id is not None:
        raise TransitionNotAllowed(f"Study {study.study_instance_uid} is matched to an order already.")
    return study


def check_free(order: ImagingOrder) -> None:
    """One study per order (409 when it has one)."""
    if _study_of(order) is not None:
        raise TransitionNotAllowed(f"Order {order.accession_number} already has a study.")


def match_by_hand(user: User, study_id: int, order_id, check=None) -> ImagingOrder:
    """An admin matches a held study to an order. ``check(study, order)`` raises when the study may
    not go on the order (webapp.pacs.reconcile: the identity rule). Audited as the order's
    "images received" entry naming the admin and the study's own patient."""
    study = held_study(study_id, for_update=True)
    order = queries.get_order(order_id, for_update=True)
    check_free(order)
    if check is not None:
        check(study, order)
    attach_by_hand(user, order, study)
    return order


def attach_by_hand(user: User, order: ImagingOrder, study: PacsStudy) -> None:
    note = (f"Matched by hand by {user.display_name}: study {study.study_instance_uid}, accession "
            f"{study.accession_number or 'none'}, patient {study_identity(study).text}.")
    _attach(services.Actor.of(user), order, study, note=note)


def replace_study(study: PacsStudy, summary: StudySummary) -> None:
    """The held study as Orthanc now holds it (after a correction: a new Orthanc id, new series
    ids). A row the follower made meanwhile for the new id, still unmatched, is folded into it."""
    other = db.session.scalar(select(PacsStudy).where(PacsStudy.orthanc_id == summary.orthanc_id,
                                                      PacsStudy.id != study.id))
    if other is not None:
        if other.order_id is not None:
            raise TransitionNotAllowed(f"Study {summary.study_instance_uid} was matched to an order meanwhile.")
        db.session.delete(other)
        db.session.flush()
    study.orthanc_id = summary.orthanc_id
    _copy(summary, study)
    study.updated_at = utcnow()
    db.session.flush()
