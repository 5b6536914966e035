"""Modality Worklist items (PS3.4 K.6): one order in, one C-FIND answer out.

**Adding an attribute is one line**: an ``Attribute(keyword, VR, value)`` in ``TOP`` (the item's
own level) or ``STEP`` (the Scheduled Procedure Step Sequence's item), where ``value(order, ctx)``
gives the text (or a number for US/DS, or a list of items for SQ); "" or None is an empty value.
Matching, the answer's keys, the character set and the encoding all follow from the table.

Why not pydicom's Dataset per item: profiled over a 1,000-item answer, setting attributes on a
Dataset (its validation and tag look-ups), restricting it to the asked keys and encoding it took
most of the service's time; the same answer built here as plain values and encoded straight to
bytes (``webapp.dicom.encoding``) takes a small part of that (bench/README.md, "The worklist at
scale on its own"). ``worklist_item`` builds a pydicom Dataset from the same table, for tests and
tools that read an item.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from webapp.db_types import clinic_zone
from webapp.dicom import safety_items
from webapp.dicom.values import LO, LT, SH, person_name, person_name_from_full, summary, text
from webapp.imaging.models import ImagingOrder

CHARACTER_SET = "ISO_IR 192"  # UTF-8, unless the scanner asks for Latin-1 and every value fits
LATIN_1 = "ISO_IR 100"
CPT_SCHEME = "C4"  # the DICOM coding scheme designator of CPT-4
SEX_CODES = {"male": "M", "female": "F", "other": "O"}
PRIORITY_CODES = {"stat": "STAT", "urgent": "HIGH", "routine": "ROUTINE"}


@dataclass
class Context:
    """What every attribute of one item may need, computed once per item."""

    zone: tzinfo
    modality: str | None = None  # the value to answer Modality with (a CR scanner asked for CR)
    cache: dict[str, Any] = field(default_factory=dict)

    def local_start(self, order: ImagingOrder):
        if "start" not in self.cache:
            self.cache["start"] = start_of(order).astimezone(self.zone)
        return self.cache["start"]

    def referring(self, order: ImagingOrder) -> str:
        if "referring" not in self.cache:
            doctor = order.ordering_doctor
            self.cache["referring"] = person_name_from_full(doctor.display_name) if doctor else ""
        return self.cache["referring"]

    def description(self, order: ImagingOrder) -> str:
        if "description" not in self.cache:
            self.cache["description"] = summary(order.description, LO)
        return self.cache["description"]


@dataclass(frozen=True)
class Attribute:
    keyword: str
    vr: str
    value: Callable[[ImagingOrder, Context], Any]
    tag: int = field(init=False)

    def __post_init__(self) -> None:
        tag = tag_for_keyword(self.keyword)
        if tag is None:
            raise ValueError(f"{self.keyword} is no DICOM keyword")
        object.__setattr__(self, "tag", tag)


def start_of(order: ImagingOrder):
    return order.scheduled_date or order.ordered_date


class Values(Mapping):
    """One level's values by tag (an item, a step, a code item), each computed when first read: an
    answer reads the keys the scanner asked for and matches on, not the whole table."""

    __slots__ = ("_order", "_ctx", "_attributes", "_found")

    def __init__(self, order: ImagingOrder, ctx: Context, level: int | None = None) -> None:
        self._order, self._ctx, self._attributes, self._found = order, ctx, LEVELS[level], {}

    def __getitem__(self, tag: int) -> Any:
        found = self._found
        if tag not in found:
            found[tag] = self._attributes[tag].value(self._order, self._ctx)  # KeyError: not offered
        return found[tag]

    def __contains__(self, tag: object) -> bool:
        return tag in self._attributes

    def __iter__(self) -> Iterator[int]:
        return iter(self._attributes)

    def __len__(self) -> int:
        return len(self._attributes)


def _codes(order: ImagingOrder, ctx: Context) -> list[Values]:
    """The procedure as a code item (CPT-4), or no item."""
    return [Values(order, ctx, CODE_SEQUENCE)] if order.procedure_code else []


CODE: tuple[Attribute, ...] = (
    Attribute("CodeValue", "SH", lambda o, c: text(o.procedure_code, SH)),
    Attribute("CodingSchemeDesignator", "SH", lambda o, c: CPT_SCHEME),
    Attribute("CodeMeaning", "LO", lambda o, c: summary(o.procedure_name, LO)),
)

# The Scheduled Procedure Step Sequence's one item (PS3.4 Table K.6-1, Scheduled Procedure Step).
STEP: tuple[Attribute, ...] = (
    Attribute("ScheduledStationAETitle", "AE", lambda o, c: o.scheduled_station_ae or ""),
    Attribute("ScheduledStationName", "SH", lambda o, c: text(o.scheduled_station.ae_title, SH)
              if o.scheduled_station else ""),
    Attribute("ScheduledProcedureStepLocation", "SH", lambda o, c: summary(o.scheduled_station.room, SH)
              if o.scheduled_station else ""),
    Attribute("ScheduledProcedureStepStartDate", "DA", lambda o, c: c.local_start(o).strftime("%Y%m%d")),
    Attribute("ScheduledProcedureStepStartTime", "TM", lambda o, c: c.local_start(o).strftime("%H%M%S")),
    Attribute("Modality", "CS", lambda o, c: c.modality or o.modality_ref.dicom_modality),
    Attribute("ScheduledPerformingPhysicianName", "PN", lambda o, c: ""),
    Attribute("ScheduledProcedureStepDescription", "LO", lambda o, c: c.description(o)),
    Attribute("ScheduledProtocolCodeSequence", "SQ", _codes),
    Attribute("ScheduledProcedureStepID", "SH", lambda o, c: text(o.accession_number, SH)),
    Attribute("ScheduledProcedureStepStatus", "CS", lambda o, c: "SCHEDULED"),
    Attribute("CommentsOnTheScheduledProcedureStep", "LT", lambda o, c: summary(o.special_instructions, LT)),
    Attribute("RequestedContrastAgent", "LO", safety_items.requested_contrast_agent),  # safety screening
)


def _steps(order: ImagingOrder, ctx: Context) -> list[Values]:
    return [Values(order, ctx, STEP_SEQUENCE)]


# The item's own level (PS3.4 Table K.6-1: Patient, Requested Procedure, Imaging Service Request).
TOP: tuple[Attribute, ...] = (
    Attribute("PatientName", "PN", lambda o, c: person_name(o.patient.last_name, o.patient.first_name)),
    Attribute("PatientID", "LO", lambda o, c: text(o.patient.mrn, LO)),
    Attribute("PatientBirthDate", "DA", lambda o, c: o.patient.date_of_birth.strftime("%Y%m%d")
              if o.patient.date_of_birth else ""),
    Attribute("PatientSex", "CS", lambda o, c: SEX_CODES.get(o.patient.sex, "")),
    Attribute("AccessionNumber", "SH", lambda o, c: text(o.accession_number, SH)),
    Attribute("ReferringPhysicianName", "PN", lambda o, c: c.referring(o)),
    Attribute("StudyInstanceUID", "UI", lambda o, c: o.study_instance_uid),
    Attribute("RequestedProcedureID", "SH", lambda o, c: text(o.accession_number, SH)),
    Attribute("RequestedProcedureDescription", "LO", lambda o, c: c.description(o)),
    Attribute("RequestedProcedureCodeSequence", "SQ", _codes),
    Attribute("RequestedProcedurePriority", "SH", lambda o, c: PRIORITY_CODES.get(o.priority, "")),
    Attribute("ReasonForTheRequestedProcedure", "LO", lambda o, c: summary(o.clinical_indication, LO)),
    Attribute("RequestingPhysician", "PN", lambda o, c: c.referring(o)),
    Attribute("PlacerOrderNumberImagingServiceRequest", "LO", lambda o, c: text(o.order_number, LO)),
    Attribute("FillerOrderNumberImagingServiceRequest", "LO", lambda o, c: text(o.accession_number, LO)),
    Attribute("StudyDescription", "LO", lambda o, c: c.description(o)),
    Attribute("ScheduledProcedureStepSequence", "SQ", _steps),
    # Safety screening (webapp.dicom.safety_items, PS3.3 C.2.4).
    Attribute("MedicalAlerts", "LO", safety_items.medical_alerts),
    Attribute("Allergies", "LO", safety_items.contrast_allergies),  # (0010,2110), once "Contrast Allergies"
    Attribute("PregnancyStatus", "US", safety_items.pregnancy_status),
    Attribute("PatientWeight", "DS", safety_items.patient_weight),
)

# Each level's attributes by tag, and the VR of every attribute the items hold.
STEP_SEQUENCE = tag_for_keyword("ScheduledProcedureStepSequence")
CODE_SEQUENCE = tag_for_keyword("RequestedProcedureCodeSequence")
LEVELS: dict[int | None, dict[int, Attribute]] = {
    None: {a.tag: a for a in TOP},
    STEP_SEQUENCE: {a.tag: a for a in STEP},
    CODE_SEQUENCE: {a.tag: a for a in CODE},
    tag_for_keyword("ScheduledProtocolCodeSequence"): {a.tag: a for a in CODE},
}


def item_values(order: ImagingOrder, modality: str | None = None, zone: tzinfo | None = None,
                known: dict[str, Any] | None = None) -> Values:
    """Every attribute the worklist offers for one order, as plain values by tag (sequences as lists
    of such mappings), in the clinic's time zone, each computed when read. ``known``: what was
    loaded for many items at once (``safety_items.records_for``), so that no item queries on its own."""
    ctx = Context(zone=zone or clinic_zone(), modality=modality, cache=dict(known or {}))
    return Values(order, ctx)


# ---------------------------------------------------------------------------- the pydicom form


def as_dataset(values: Mapping[int, Any], level: int | None = None) -> Dataset:
    """The values as a pydicom Dataset (big-endian associations; tests that read an item)."""
    ds = Dataset()
    attributes = LEVELS[level]
    if level is None:
        ds.SpecificCharacterSet = CHARACTER_SET
    for tag, value in values.items():
        attribute = attributes[tag]
        if attribute.vr == "SQ":
            ds.add(DataElement(tag, "SQ", [as_dataset(item, tag) for item in value]))
        else:
            ds.add(DataElement(tag, attribute.vr, value))
    return ds


def worklist_item(order: ImagingOrder, modality: str | None = None) -> Dataset:
    """Every attribute the worklist offers for one order (PS3.4 K.6), as a pydicom Dataset."""
    return as_dataset(item_values(order, modality))
