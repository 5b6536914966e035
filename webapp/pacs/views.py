"""PACS pages: the unmatched studies (admins) and the thumbnails, fetched from Orthanc through the app.

Thumbnails never link the browser to Orthanc: the app checks the user may see the order (every
staff role, not the wall display; an unmatched study's only admins), notes the read in the
access log, and passes the preview image on. Only the previews recorded for the study's series
can be asked for, by position, so no other Orthanc resource is reachable through here.
"""

from __future__ import annotations

from flask import Response, abort, current_app, flash, redirect, request, url_for
from flask_login import current_user

from webapp.audit import record_read
from webapp.auth.access import roles_required
from webapp.auth.roles import CAN_VIEW_ORDERS, Role
from webapp.errors import ServiceError
from webapp.extensions import db
from webapp.imaging import queries
from webapp.pacs import bp, display, matching, reconcile
from webapp.pacs.client import OrthancClient, OrthancNotFound, OrthancUnavailable
from webapp.pacs.identity import StudyOfAnotherPatient, patient_identity, study_identity, study_mismatch
from webapp.pacs.models import PacsStudy
from webapp.web.htmx import render_page

ADMINS = frozenset({Role.ADMIN})


@bp.route("/imaging/unmatched-studies")
@roles_required(ADMINS)
def unmatched_studies():
    return _page()


def _page(refusal: dict | None = None, status: int = 200):
    studies = matching.unmatched_studies()
    candidates = matching.candidate_orders(studies)
    shown = [refusal["order"].patient_id] if refusal else []
    # A study names its patient by DICOM Patient ID: the patients of ours with that MRN are logged,
    # and those of the orders whose identity is shown beside a study.
    record_read(current_user, "unmatched PACS studies",
                [*matching.known_patients(studies), *(o.patient_id for o in candidates.values()), *shown],
                subjects=matching.unregistered_subjects(studies))
    return render_page("pacs/unmatched.html", None, status=status, studies=studies, candidates=candidates,
                       study_identity=study_identity, patient_identity=patient_identity, refusal=refusal,
                       pacs_enabled=display.pacs_enabled())


def _refusal(study_id: int, order, why: str, accession: str, errors: dict | None = None) -> dict:
    study = matching.held_study(study_id)
    return {"study": study, "order": order, "why": why, "accession": accession, "errors": errors or {},
            "reason": (request.form.get("reason") or "").strip()[:500]}


def _form_accession() -> str:
    accession = (request.form.get("accession_number") or "").strip()[:64]
    if not accession:
        raise ServiceError("Enter the accession number of the order the study belongs to.")
    return accession


@bp.route("/imaging/unmatched-studies/<id:study_id>/match", methods=["POST"])
@roles_required(ADMINS)
def match_study(study_id: int):
    """The page's form names the order by its accession number. A study of another patient is
    refused (409): the page shows both identities side by side and the one way on (correct it)."""
    try:
        accession = _form_accession()
        order = queries.get_order_by_accession(accession)
        order = reconcile.match_held(current_user, study_id, order.id)
        accession_number = order.accession_number
    except StudyOfAnotherPatient as refused:
        flash(refused.detail, "danger")
        order = queries.get_order(refused.order_id)
        return _page(_refusal(study_id, order, refused.why, order.accession_number), status=409)
    except ServiceError as exc:
        db.session.rollback()
        flash(exc.detail, "danger")
        return redirect(url_for("pacs.unmatched_studies"), 303)
    flash(f"The study is now on order {accession_number}.", "success")
    return redirect(url_for("pacs.unmatched_studies"), 303)


@bp.route("/imaging/unmatched-studies/<id:study_id>/correct", methods=["POST"])
@roles_required(ADMINS)
def correct_study(study_id: int):
    """Correct the study in the PACS to the order's patient, then match (a reason and an explicit
    confirmation; webapp.pacs.reconcile.correct_and_match)."""
    try:
        accession = _form_accession()
        order = queries.get_order_by_accession(accession)
        errors = {}
        if request.form.get("confirm") != "yes":
            errors["confirm"] = "Confirm that the images are of the order's patient."
        if not (request.form.get("reason") or "").strip():
            errors["reason"] = "Say why the study is corrected (it is kept in the audit trail)."
        if errors:
            theirs = study_identity(matching.held_study(study_id))
            why = study_mismatch(order.patient, theirs) or "the study is corrected to the order's patient"
            flash("Not corrected: " + " ".join(errors.values()), "danger")
            return _page(_refusal(study_id, order, why, order.accession_number, errors), status=422)
        order = reconcile.correct_and_match(current_app.config, current_user, study_id, order.id,
                                            request.form.get("reason"))
        accession_number = order.accession_number
    except ServiceError as exc:
        db.session.rollback()
        flash(exc.detail, "danger")
        return redirect(url_for("pacs.unmatched_studies"), 303)
    flash(f"The study was corrected in the PACS to the patient of order {accession_number} and is now on "
          "that order.", "success")
    return redirect(url_for("pacs.unmatched_studies"), 303)


@bp.route("/pacs/studies/<id:study_id>/thumbnails/<int:index>")
@roles_required(CAN_VIEW_ORDERS)
def thumbnail(study_id: int, index: int):
    study = db.session.get(PacsStudy, study_id)
    if study is None or not display.pacs_enabled():
        abort(404)
    series = [item for item in study.series or [] if item.get("preview")]
    if index >= len(series):
        abort(404)
    if study.order_id is None:
        if current_user.role not in ADMINS:
            abort(403)
        record_read(current_user, f"image of unmatched study {study.study_instance_uid}",
                    matching.known_patients([study]), subjects=matching.unregistered_subjects([study]))
    else:
        record_read(current_user, f"image of order {study.order.accession_number}", [study.order.patient_id])
    db.session.rollback()  # nothing is written here: no transaction is held while Orthanc answers
    return _preview(series[index]["preview"])


def _preview(instance_id: str) -> Response:
    try:
        body, content_type = OrthancClient.from_config(current_app.config).preview(instance_id)
    except OrthancNotFound:
        abort(404)
    except OrthancUnavailable as exc:
        current_app.logger.warning("PACS: thumbnail not available: %s", exc)
        return Response("The PACS does not answer.", status=503, mimetype="text/plain",
                        headers={"Retry-After": "30", "Cache-Control": "no-store"})
    if not content_type.startswith("image/"):
        content_type = "image/png"
    # Patient images: kept in the signed-in user's browser only, and briefly.
    return Response(body, mimetype=content_type, headers={"Cache-Control": "private, max-age=300"})
