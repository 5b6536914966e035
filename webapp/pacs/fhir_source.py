"""The PACS's matched studies for the FHIR API's ImagingStudy (webapp.fhir.studies).

An ImagingStudy names its order's patient as subject, so a study is answered only while its own
DICOM identity is that patient's (webapp.pacs.identity): a study linked before the identity rule
held, or whose identity disagrees for any reason, is never served under another patient's name.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from sqlalchemy import select

from webapp.extensions import db
from webapp.fhir.studies import StudyRecord
from webapp.imaging.models import ImagingOrder
from webapp.pacs.identity import study_identity, study_mismatch
from webapp.pacs.models import PacsStudy
from webapp.patients.models import Patient

# ImagingStudy ids are derived from Orthanc's own study ids: stable, and the same on every host.
_NAMESPACE = uuid.UUID("7b0f4a52-8c1e-4b7e-9d55-2f3a6c1d9e40")


class PacsStudySource:
    """Answers the studies matched to the given orders or patients (held ones never)."""

    def find(self, order_ids: list[uuid.UUID] | None, patient_ids: list[uuid.UUID] | None) -> Iterator[StudyRecord]:
        statement = (select(PacsStudy, Patient).join(ImagingOrder, PacsStudy.order_id == ImagingOrder.id)
                     .join(Patient, ImagingOrder.patient_id == Patient.id))
        if order_ids is not None:
            statement = statement.where(PacsStudy.order_id.in_(order_ids))
        if patient_ids is not None:
            statement = statement.where(ImagingOrder.patient_id.in_(patient_ids))
        for study, patient in db.session.execute(statement):
            if study_mismatch(patient, study_identity(study)) is not None:
                continue
            patient_id = patient.id
            yield StudyRecord(
                id=uuid.uuid5(_NAMESPACE, study.orthanc_id),
                study_instance_uid=study.study_instance_uid,
                order_id=study.order_id,
                patient_id=patient_id,
                accession_number=study.accession_number,
                received_at=study.received_at,
                modalities=tuple(code for code in (study.modalities or "").split(",") if code),
                description=study.description,
                series=study.series_count,
                instances=study.instance_count,
            )
