"""Reading the catalogue the order form offers: modalities, body parts and procedures
(reference.py loads them). The order pages, the tablet and the timeline read it through here."""

from __future__ import annotations

from sqlalchemy import select

from webapp.extensions import db
from webapp.imaging.models import BodyPart, ImagingModality, Procedure


def active_modalities() -> list[ImagingModality]:
    """The modalities orders can be placed for, in the catalogue's order."""
    return list(db.session.scalars(
        select(ImagingModality).where(ImagingModality.is_active.is_(True)).order_by(ImagingModality.sort_order)
    ))


def body_parts(modality: str | None = None) -> list[BodyPart]:
    """Every body part in the catalogue's order; with ``modality``, those it can image."""
    parts = list(db.session.scalars(select(BodyPart).order_by(BodyPart.sort_order)))
    return [p for p in parts if modality in p.modalities] if modality else parts


def procedures(modality: str, body_part: str | None = None) -> list[Procedure]:
    """The active procedures of a modality (and of a body part, when given), by name."""
    statement = (
        select(Procedure).where(Procedure.is_active.is_(True), Procedure.modality == modality)
        .order_by(Procedure.name)
    )
    if body_part:
        statement = statement.where(Procedure.body_part == body_part)
    return list(db.session.scalars(statement))


def modality_name(code: str) -> str:
    """A modality's name ("CT Scan"); the code itself when the catalogue has no such modality."""
    row = db.session.get(ImagingModality, code)
    return row.name if row else str(code)


def body_part_name(code: str) -> str:
    """A body part's name ("Head/Brain"); the code itself when the catalogue has no such part."""
    row = db.session.get(BodyPart, code)
    return row.name if row else str(code)
