"""Reference data for order forms: /api/v1/imaging/modalities and /api/v1/imaging/body-parts."""

from __future__ import annotations

from sqlalchemy import select

from webapp.api.common import json_response, resource_blueprint
from webapp.api.schemas import BodyPartList, BodyPartOut, ModalityList, ModalityOut
from webapp.extensions import db
from webapp.imaging.models import BodyPart, ImagingModality

api = resource_blueprint("reference", __name__, "/api/v1/imaging", "Reference data")


@api.get("/modalities", responses={200: ModalityList})
def list_modalities():
    """The modalities, active ones first in the department's order."""
    rows = db.session.scalars(
        select(ImagingModality).order_by(ImagingModality.is_active.desc(), ImagingModality.sort_order)
    )
    return json_response(ModalityList(items=[ModalityOut.model_validate(row) for row in rows]))


@api.get("/body-parts", responses={200: BodyPartList})
def list_body_parts():
    """The body parts, each with the modality codes that can image it."""
    rows = db.session.scalars(select(BodyPart).order_by(BodyPart.sort_order))
    return json_response(BodyPartList(items=[BodyPartOut.model_validate(row) for row in rows]))
