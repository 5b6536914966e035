"""Whose images are these? The identity rule for PACS studies, and reconciling a study filed
under the wrong patient (docs/pacs.md, "The identity rule for studies").

A study is attached to an order only when the study's own patient (DICOM Patient ID, the family
name of Patient Name, and Patient Birth Date where both sides have one) is the order's patient,
by the one rule of every edge (:func:`webapp.patients.identity.identity_mismatch`). That holds
for automatic matching (webapp.pacs.matching.find_order) and for an admin's match by hand: a
match with an order of another patient is refused (409, :class:`StudyOfAnotherPatient`), nothing
is linked, and the refusal is written on that order's timeline (``study_match_refused``).

The only way to link such a study is to correct it in the PACS (:func:`correct_and_match`, an
admin, with a reason): Orthanc rewrites PatientID, PatientName and PatientBirthDate in every
image (``POST /studies/{id}/modify``) and deletes the wrong copy, so the PACS holds the study
once, under the order's patient, before it is matched; the correction (old and new identity, the
reason, who) is the order's ``study_corrected`` timeline entry. This is IHE Radiology's Patient
Information Reconciliation (IHE RAD TF-1 §4, PIR): the images keep their UIDs and get the
right patient's demographics.

These functions commit (the refusal must stay written when the match is refused, and no
transaction may be open while Orthanc rewrites a study); ``matching`` itself only flushes.
"""

from __future__ import annotations

from dataclasses import dataclass

from webapp.auth.models import User
from webapp.auth.roles import Role
from webapp.errors import PermissionDenied, ServiceError, TransitionNotAllowed, ValidationFailed
from webapp.extensions import commit_keeping_state, db
from webapp.imaging import queries, services
from webapp.imaging.models import ImagingOrder
from webapp.pacs import matching
from webapp.pacs.client import OrthancClient, OrthancNotFound, OrthancUnavailable
from webapp.pacs.identity import (
    Identity,
    StudyOfAnotherPatient,
    check_same_patient,
    patient_identity,
    study_identity,
    study_mismatch,
)
from webapp.pacs.studies import read_study

REASON_MAX = 500


class PacsUnavailable(ServiceError, status=503, title="The PACS does not answer", kind="pacs-unavailable"):
    """Orthanc could not be reached while correcting a study; nothing was changed here."""


def _admin(user: User) -> None:
    if user.role != Role.ADMIN:
        raise PermissionDenied("Only administrators match or correct studies held for review.")


def _record_refusal(user: User, refused: StudyOfAnotherPatient) -> None:
    order = queries.get_order(refused.order_id, for_update=True)
    study_uid = refused.study_uid
    note = (f"Study match refused: {user.display_name} tried to match study {study_uid} to this order, but it "
            f"is of another patient ({refused.why}). Study: {refused.study.text}. Order: {refused.patient.text}. "
            "Nothing was linked.")
    services.record_study_refused(user, order, note, {"study_instance_uid": study_uid,
                                                      "study_patient": refused.study.as_json(),
                                                      "order_patient": refused.patient.as_json()})


def match_held(user: User, study_id: int, order_id) -> ImagingOrder:
    """Match a held study to an order by hand, committed; a study of another patient is refused
    (StudyOfAnotherPatient, 409) with the refusal committed on the order's timeline."""
    _admin(user)
    try:
        order = matching.match_by_hand(user, study_id, order_id, check=check_same_patient)
    except StudyOfAnotherPatient as refused:
        db.session.rollback()
        _record_refusal(user, refused)
        db.session.commit()
        raise
    commit_keeping_state()
    return order


@dataclass(frozen=True)
class _Plan:
    orthanc_id: str
    study_uid: str
    old: Identity
    new: Identity
    accession_number: str


def _plan(user: User, study_id: int, order_id, reason: str) -> _Plan:
    _admin(user)
    if not reason:
        raise ValidationFailed({"reason": "Say why the study is corrected (it is kept in the audit trail)."})
    if len(reason) > REASON_MAX:
        raise ValidationFailed({"reason": f"At most {REASON_MAX} characters."})
    study = matching.held_study(study_id)
    order = queries.get_order(order_id)
    matching.check_free(order)
    return _Plan(study.orthanc_id, study.study_instance_uid, study_identity(study), patient_identity(order.patient),
                 order.accession_number)


def correct_and_match(app_config, user: User, study_id: int, order_id, reason: str | None) -> ImagingOrder:
    """Correct a held study in the PACS to the order's patient, then match it (committed).

    1. checks (admin, a reason, the study held, the order without a study), then the transaction
       ends: nothing is locked while Orthanc works;
    2. Orthanc rewrites PatientID, PatientName, PatientBirthDate (keeping the UIDs) and deletes
       the source; a copy still there is deleted (the study must exist once);
    3. the study is read again and, in one transaction, recorded under its new Orthanc id, the
       order's ``study_corrected`` entry written (old and new identity, reason), and matched.
    """
    reason = " ".join(str(reason or "").split())
    plan = _plan(user, study_id, order_id, reason)
    db.session.rollback()
    if not app_config.get("ORTHANC_URL"):
        raise TransitionNotAllowed("No PACS is configured (ORTHANC_URL): a study cannot be corrected.")
    client = OrthancClient.from_config(app_config)
    replace = {"PatientID": plan.new.patient_id, "PatientName": plan.new.name or "",
               "PatientBirthDate": plan.new.birth_date.strftime("%Y%m%d") if plan.new.birth_date else ""}
    try:
        new_id = client.modify_study(plan.orthanc_id, replace)
        if new_id != plan.orthanc_id and client.has_study(plan.orthanc_id):
            client.delete_study(plan.orthanc_id)
        summary = read_study(client, new_id)
    except OrthancNotFound:
        raise TransitionNotAllowed(f"Study {plan.study_uid} is no longer in the PACS.") from None
    except OrthancUnavailable as exc:
        raise PacsUnavailable(f"The PACS did not answer ({exc}); the study was not corrected or matched.") from None
    study = matching.held_study(study_id, for_update=True)
    order = queries.get_order(order_id, for_update=True)
    matching.check_free(order)
    matching.replace_study(study, summary)
    why = study_mismatch(order.patient, study_identity(study))
    if why is not None:  # Orthanc did not write what it was asked to: never attach
        raise PacsUnavailable(f"The PACS did not correct the study ({why}); it was not matched.")
    note = (f"Study corrected in the PACS by {user.display_name} before matching: study {plan.study_uid} was "
            f"{plan.old.text}; it is now {plan.new.text}. Reason: {reason}")
    services.record_study_corrected(user, order, note, {
        "study_instance_uid": plan.study_uid, "old": plan.old.as_json(), "new": plan.new.as_json(),
        "reason": reason, "orthanc_id_old": plan.orthanc_id, "orthanc_id_new": summary.orthanc_id,
    })
    matching.attach_by_hand(user, order, study)
    commit_keeping_state()
    return order
