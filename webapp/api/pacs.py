"""PACS studies held for review (admins): GET /api/v1/pacs/unmatched and
POST /api/v1/pacs/unmatched/{id}/match (CONTRACT). Matching goes through webapp.pacs.reconcile:
a study of another patient than the order's is refused (409, written on the order's timeline)
unless ``correct_study`` corrects it in the PACS first; the order gets its "images received"
entry (audited, published live)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from flask import current_app
from pydantic import BaseModel, ConfigDict, Field

from webapp.api import examples
from webapp.api.common import answer as answer_doc
from webapp.api.common import json_response, problems, resource_blueprint
from webapp.api.orders import answer
from webapp.api.schemas import InputModel
from webapp.api.security import api_user, requires
from webapp.audit import record_read
from webapp.auth.roles import Role
from webapp.errors import ValidationFailed
from webapp.pacs import matching, reconcile
from webapp.pacs.models import PacsStudy
from webapp.paging import MAX_DB_ID

api = resource_blueprint("pacs", __name__, "/api/v1/pacs", "PACS")
ADMINS = {Role.ADMIN}


class UnmatchedStudy(BaseModel):
    id: int
    study_instance_uid: str
    accession_number: str | None
    patient_id: str | None = Field(description="The study's DICOM Patient ID.")
    patient_name: str | None = Field(description="The study's DICOM Patient Name (Family^Given).")
    patient_birth_date: date | None = Field(None, description="The study's DICOM Patient Birth Date.")
    study_date: date | None
    description: str | None
    series: int
    instances: int
    modalities: str
    hold_reason: str | None = Field(description="Why the study was not matched to an order.")
    received_at: datetime


class UnmatchedList(BaseModel):
    model_config = ConfigDict(openapi_extra={"example": examples.UNMATCHED})

    items: list[UnmatchedStudy]


class UnmatchedPath(BaseModel):
    id: int = Field(ge=1, le=MAX_DB_ID)


class MatchRequest(InputModel):
    model_config = ConfigDict(extra="forbid", openapi_extra={"example": examples.MATCH})

    order_id: uuid.UUID
    correct_study: bool = Field(False, description=(
        "Correct the study in the PACS to the order's patient (PatientID, PatientName, PatientBirthDate "
        "rewritten by Orthanc, the wrong copy deleted), then match. Needed when the study names another patient."))
    reason: str | None = Field(None, max_length=500, description="Why the study is corrected (required with correct_study).")


def _out(study: PacsStudy) -> UnmatchedStudy:
    return UnmatchedStudy(
        id=study.id, study_instance_uid=study.study_instance_uid, accession_number=study.accession_number,
        patient_id=study.dicom_patient_id, patient_name=study.patient_name,
        patient_birth_date=study.patient_birth_date, study_date=study.study_date,
        description=study.description, series=study.series_count, instances=study.instance_count,
        modalities=study.modalities, hold_reason=study.hold_reason, received_at=study.received_at,
    )


@api.get("/unmatched", responses={200: UnmatchedList})
@requires(ADMINS)
def unmatched():
    """Studies the PACS received that match no order (or name another patient than the order's), newest first."""
    studies = matching.unmatched_studies()
    record_read(api_user(), "unmatched PACS studies", matching.known_patients(studies),
                subjects=matching.unregistered_subjects(studies))
    return json_response(UnmatchedList(items=[_out(s) for s in studies]))


MATCHED = {200: answer_doc("OrderOut", "The order, now with the study's images", headers={"ETag": True},
                           example=examples.ORDER)} | problems(404, 409, 422, 503)


@api.post("/unmatched/<int:id>/match", responses=MATCHED)
@requires(ADMINS)
def match(path: UnmatchedPath, body: MatchRequest):
    """Match a held study to an order (one study per order). Recorded on the order's timeline, naming you.

    A study of another patient than the order's (Patient ID, family name, birth date) is refused
    with 409, both identities in the problem, and the refusal is on the order's timeline. With
    ``correct_study`` and a ``reason`` the study is corrected in the PACS to the order's patient,
    then matched; both identities are on the order's timeline."""
    user = api_user()
    if body.correct_study:
        order = reconcile.correct_and_match(current_app.config, user, path.id, body.order_id, body.reason)
    else:
        if body.reason:
            raise ValidationFailed({"reason": "A reason goes with correct_study only."})
        order = reconcile.match_held(user, path.id, body.order_id)
    return answer(order)
