"""ImagingStudy: the studies a PACS holds for orders, served when a PACS integration provides them.

This package does not read the PACS. A PACS integration plugs its studies in by registering a
source on the app (``register_study_source(app, source)``, from its ``init_app``): an object with

    find(order_ids: list[uuid.UUID] | None, patient_ids: list[uuid.UUID] | None) -> Iterable[StudyRecord]

answering the studies matched to those orders or patients (either list may be None: not
narrowed by it). Without a source, ``GET /fhir/R4/ImagingStudy`` answers an empty searchset.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from flask import Flask, current_app

from webapp.fhir import codes
from webapp.fhir.resources import instant, reference, validated
from webapp.paging import decode_cursor, encode_cursor

EXTENSION_KEY = "fhir_study_source"
DICOM_MODALITIES = "http://dicom.nema.org/resources/ontology/DCM"


@dataclass(frozen=True)
class StudyRecord:
    """What the FHIR API needs of one study matched to an order."""

    id: uuid.UUID  # the ImagingStudy's id (the PACS integration's own key of the study)
    study_instance_uid: str
    order_id: uuid.UUID
    patient_id: uuid.UUID
    accession_number: str | None
    received_at: datetime  # meta.lastUpdated
    started: datetime | None = None
    modalities: tuple[str, ...] = ()  # DICOM modality codes (CT, MR, CR, ...)
    description: str | None = None
    series: int | None = None
    instances: int | None = None

    @property
    def moment(self) -> datetime:
        return self.started or self.received_at


class StudySource(Protocol):
    def find(self, order_ids: list[uuid.UUID] | None,
             patient_ids: list[uuid.UUID] | None) -> Iterable[StudyRecord]: ...


def register_study_source(app: Flask, source: StudySource) -> None:
    app.extensions[EXTENSION_KEY] = source


def find_studies(order_ids: list[uuid.UUID] | None, patient_ids: list[uuid.UUID] | None) -> list[StudyRecord]:
    source = current_app.extensions.get(EXTENSION_KEY)
    if source is None:
        return []
    return list(source.find(order_ids, patient_ids))


def page_of(studies: list[StudyRecord], count: int, cursor: str | None) -> tuple[list[StudyRecord], str | None]:
    """Newest first, keyset-paged with the app's cursor (moment, id)."""
    ordered = sorted(studies, key=lambda s: (s.moment, s.id), reverse=True)
    if cursor:
        moment, key = decode_cursor(cursor)
        ordered = [s for s in ordered if (s.moment, s.id) < (moment, key)]
    rows = ordered[:count]
    more = len(ordered) > count
    return rows, encode_cursor(rows[-1].moment, rows[-1].id) if more and rows else None


def imaging_study_json(study: StudyRecord) -> dict:
    identifiers = [{"system": codes.DICOM_UID, "value": f"urn:oid:{study.study_instance_uid}"}]
    if study.accession_number:
        identifiers.append({"type": codes.ACCESSION_TYPE, "system": codes.accession_system(),
                            "value": study.accession_number})
    data = {
        "resourceType": "ImagingStudy",
        "id": str(study.id),
        "meta": {"lastUpdated": instant(study.received_at)},
        "identifier": identifiers,
        "status": "available",
        "modality": [{"system": DICOM_MODALITIES, "code": code} for code in study.modalities],
        "subject": reference("Patient", study.patient_id),
        "basedOn": [reference("ServiceRequest", study.order_id)],
        "started": instant(study.started),
        "numberOfSeries": study.series,
        "numberOfInstances": study.instances,
        "description": study.description,
    }
    return {key: value for key, value in data.items() if value not in (None, [], "")}


def imaging_study(study: StudyRecord):
    from fhir.resources.R4B.imagingstudy import ImagingStudy

    return validated(ImagingStudy, imaging_study_json(study))
