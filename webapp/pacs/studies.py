"""A study as Orthanc describes it, read into what the app keeps (no database here).

Reading a study asks Orthanc for the study, its series, and each series' instances (to pick the
middle image for the thumbnail): all of it before any database transaction starts, so a slow
Orthanc never holds a lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from webapp.pacs.client import OrthancClient


@dataclass
class StudySummary:
    orthanc_id: str
    study_instance_uid: str
    accession_number: str | None
    patient_id: str | None
    patient_name: str | None
    study_date: date | None
    description: str | None
    series: list[dict] = field(default_factory=list)
    patient_birth_date: date | None = None

    @property
    def series_count(self) -> int:
        return len(self.series)

    @property
    def instance_count(self) -> int:
        return sum(item["instances"] for item in self.series)

    @property
    def modalities(self) -> str:
        seen: list[str] = []
        for item in self.series:
            if item["modality"] and item["modality"] not in seen:
                seen.append(item["modality"])
        return ",".join(seen)[:64]


def _clip(value, limit: int) -> str | None:
    text = str(value or "").strip()
    return text[:limit] or None


def dicom_date(value) -> date | None:
    try:
        return datetime.strptime(str(value or "").strip()[:8], "%Y%m%d").date()
    except ValueError:
        return None


def _number(value) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return 0


def _series_entry(client: OrthancClient, series: dict) -> dict:
    tags = series.get("MainDicomTags") or {}
    instances = client.series_instances(series["ID"])
    ordered = sorted(instances, key=lambda i: (_number((i.get("MainDicomTags") or {}).get("InstanceNumber")),
                                              i.get("IndexInSeries") or 0))
    return {
        "id": series["ID"],
        "modality": _clip(tags.get("Modality"), 16),
        "description": _clip(tags.get("SeriesDescription"), 200),
        "number": _number(tags.get("SeriesNumber")),
        "instances": len(instances),
        "preview": ordered[len(ordered) // 2]["ID"] if ordered else None,
    }


def read_study(client: OrthancClient, orthanc_id: str) -> StudySummary:
    """The study with its series (OrthancNotFound when it is gone, OrthancUnavailable when Orthanc is)."""
    study = client.study(orthanc_id)
    tags = study.get("MainDicomTags") or {}
    patient = study.get("PatientMainDicomTags") or {}
    series = [_series_entry(client, item) for item in client.study_series(orthanc_id)]
    series.sort(key=lambda item: (item["number"], item["id"]))
    return StudySummary(
        orthanc_id=study["ID"],
        study_instance_uid=_clip(tags.get("StudyInstanceUID"), 64) or "",
        accession_number=_clip(tags.get("AccessionNumber"), 64),
        patient_id=_clip(patient.get("PatientID"), 64),
        patient_name=_clip(patient.get("PatientName"), 200),
        study_date=dicom_date(tags.get("StudyDate")),
        description=_clip(tags.get("StudyDescription"), 1000),
        series=series,
        patient_birth_date=dicom_date(patient.get("PatientBirthDate")),
    )
