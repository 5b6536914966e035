"""What pages and the API show of an order's images: the viewer link and the thumbnails' series.

No call to Orthanc here: everything comes from the studies recorded (webapp.pacs.models); the
thumbnails themselves are fetched through the app (views.thumbnail) when the browser asks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

from flask import current_app
from sqlalchemy import select

from webapp.extensions import db
from webapp.imaging.models import ImagingOrder
from webapp.pacs.models import PacsStudy

# Orthanc's own viewer (Orthanc Explorer) for the study.
DEFAULT_VIEWER = "{orthanc_url}/app/explorer.html#study?uuid={orthanc_id}"


def pacs_enabled() -> bool:
    return bool(current_app.config.get("ORTHANC_URL"))


def viewer_url(study: PacsStudy) -> str:
    """VIEWER_URL_TEMPLATE with the study's values (URL-quoted); default Orthanc's own viewer."""
    template = current_app.config.get("VIEWER_URL_TEMPLATE") or DEFAULT_VIEWER
    values = {
        "orthanc_url": current_app.config.get("ORTHANC_URL") or "",
        "study_instance_uid": quote(study.study_instance_uid or "", safe=""),
        "accession_number": quote(study.accession_number or "", safe=""),
        "orthanc_id": quote(study.orthanc_id, safe=""),
    }
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


@dataclass(frozen=True)
class OrderImages:
    study: PacsStudy
    viewer_url: str

    @property
    def series(self) -> list[dict]:
        return [item for item in self.study.series or [] if item.get("preview")]


def studies_by_order(order_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, PacsStudy]:
    ids = list({key for key in order_ids if key is not None})
    if not ids:
        return {}
    return {study.order_id: study for study in db.session.scalars(select(PacsStudy).where(PacsStudy.order_id.in_(ids)))}


def order_images(order: ImagingOrder) -> OrderImages | None:
    """The order's study for its page (None without a PACS or before images arrive)."""
    if not pacs_enabled():
        return None
    study = studies_by_order([order.id]).get(order.id)
    return OrderImages(study, viewer_url(study)) if study else None


def patient_images(orders: Iterable[ImagingOrder]) -> list[tuple[ImagingOrder, OrderImages]]:
    """The orders of a patient's history that have images, in the history's order."""
    if not pacs_enabled():
        return []
    orders = list(orders)
    studies = studies_by_order(o.id for o in orders)
    return [(o, OrderImages(studies[o.id], viewer_url(studies[o.id]))) for o in orders if o.id in studies]


def images_json(study: PacsStudy | None) -> dict:
    """The order JSON's ``images`` member."""
    if study is None or not pacs_enabled():
        return {"available": False, "series": 0, "instances": 0, "viewer_url": None, "received_at": None}
    return {"available": True, "series": study.series_count, "instances": study.instance_count,
            "viewer_url": viewer_url(study), "received_at": study.updated_at}
