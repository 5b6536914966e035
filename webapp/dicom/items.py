"""Modality Worklist items (PS3.4 K.6): one order in, one C-FIND answer out.

``worklist_item`` builds every attribute the worklist offers for an order, in the clinic's
time zone; ``restrict_to_keys`` keeps only the keys the scanner asked for.
"""

from __future__ import annotations

from datetime import datetime

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import Tag

from webapp.db_types import clinic_zone
from webapp.dicom.safety_items import add_safety_attributes
from webapp.dicom.values import LO, LT, SH, person_name, person_name_from_full, summary, text
from webapp.imaging.models import ImagingOrder

CHARACTER_SET = "ISO_IR 192"  # UTF-8, unless the scanner asks for Latin-1 and every value fits
LATIN_1 = "ISO_IR 100"
_TEXT_VRS = {"SH", "LO", "ST", "LT", "UT", "UC", "PN"}
CPT_SCHEME = "C4"  # the DICOM coding scheme designator of CPT-4
SEX_CODES = {"male": "M", "female": "F", "other": "O"}
PRIORITY_CODES = {"stat": "STAT", "urgent": "HIGH", "routine": "ROUTINE"}


def start_of(order: ImagingOrder) -> datetime:
    return order.scheduled_date or order.ordered_date


def _code_item(order: ImagingOrder) -> Dataset:
    code = Dataset()
    code.CodeValue = text(order.procedure_code, SH)
    code.CodingSchemeDesignator = CPT_SCHEME
    code.CodeMeaning = summary(order.procedure_name, LO)
    return code


def worklist_item(order: ImagingOrder, modality: str | None = None) -> Dataset:
    """Every attribute the worklist offers for one order (PS3.4 K.6), in the clinic's time zone."""
    patient = order.patient
    local_start = start_of(order).astimezone(clinic_zone())
    doctor = order.ordering_doctor
    referring = person_name_from_full(doctor.display_name) if doctor else ""
    description = summary(order.description, LO)
    station = order.scheduled_station

    ds = Dataset()
    ds.SpecificCharacterSet = CHARACTER_SET
    ds.PatientName = person_name(patient.last_name, patient.first_name)
    ds.PatientID = text(patient.mrn, LO)
    ds.PatientBirthDate = patient.date_of_birth.strftime("%Y%m%d") if patient.date_of_birth else ""
    ds.PatientSex = SEX_CODES.get(patient.sex, "")
    ds.AccessionNumber = text(order.accession_number, SH)
    ds.ReferringPhysicianName = referring
    ds.StudyInstanceUID = order.study_instance_uid
    ds.RequestedProcedureID = text(order.accession_number, SH)
    ds.RequestedProcedureDescription = description
    ds.RequestedProcedureCodeSequence = [_code_item(order)] if order.procedure_code else []
    ds.RequestedProcedurePriority = PRIORITY_CODES.get(order.priority, "")
    ds.ReasonForTheRequestedProcedure = summary(order.clinical_indication, LO)
    ds.RequestingPhysician = referring
    ds.PlacerOrderNumberImagingServiceRequest = text(order.order_number, LO)
    ds.FillerOrderNumberImagingServiceRequest = text(order.accession_number, LO)
    ds.StudyDescription = description

    sps = Dataset()
    sps.ScheduledStationAETitle = order.scheduled_station_ae or ""
    sps.ScheduledStationName = text(station.ae_title, SH) if station else ""
    sps.ScheduledProcedureStepLocation = summary(station.room, SH) if station else ""
    sps.ScheduledProcedureStepStartDate = local_start.strftime("%Y%m%d")
    sps.ScheduledProcedureStepStartTime = local_start.strftime("%H%M%S")
    sps.Modality = modality or order.modality_ref.dicom_modality
    sps.ScheduledPerformingPhysicianName = ""
    sps.ScheduledProcedureStepDescription = description
    sps.ScheduledProtocolCodeSequence = [_code_item(order)] if order.procedure_code else []
    sps.ScheduledProcedureStepID = text(order.accession_number, SH)
    sps.ScheduledProcedureStepStatus = "SCHEDULED"
    sps.CommentsOnTheScheduledProcedureStep = summary(order.special_instructions, LT)
    ds.ScheduledProcedureStepSequence = [sps]
    add_safety_attributes(ds, sps, order)  # safety screening (webapp.dicom.safety_items)
    return ds


def restrict_to_keys(item: Dataset, requested: Dataset, *, top: bool = True) -> Dataset:
    """Only the keys the scanner asked for (an empty sequence key asks for whole items), in the
    character set it asked for when it is Latin-1 and every value fits, else UTF-8.

    The answer takes the item's elements over (no copies): the item is built for this answer only.
    """
    out = Dataset()
    for element in requested:
        tag = element.tag
        if tag.group in (0x0000, 0x0002) or tag.is_private or tag == Tag("SpecificCharacterSet"):
            continue
        if tag not in item:
            out.add(DataElement(tag, element.VR, None))
            continue
        have = item[tag]
        if have.VR == "SQ" and element.VR == "SQ" and len(element.value) == 1 and len(element.value[0]):
            items = [restrict_to_keys(sub, element.value[0], top=False) for sub in have.value]
            out.add(DataElement(tag, "SQ", items))
        else:
            out.add(have)
    if top:
        out.SpecificCharacterSet = LATIN_1 if asks_for_latin1(requested) and fits_latin1(out) else CHARACTER_SET
    return out


def asks_for_latin1(requested: Dataset) -> bool:
    """The query declares ISO_IR 100 (Latin-1) as its one character set."""
    value = requested.get("SpecificCharacterSet")
    values = [str(v).strip() for v in (value if isinstance(value, MultiValue) else [value]) if v is not None]
    return values == [LATIN_1]


def fits_latin1(answer: Dataset) -> bool:
    """Every text value of the answer (sequences included) is written in Latin-1."""
    for element in answer.iterall():
        if element.VR not in _TEXT_VRS or element.value is None:
            continue
        for value in element.value if isinstance(element.value, MultiValue) else [element.value]:
            try:
                str(value).encode("latin-1")
            except UnicodeEncodeError:
                return False
    return True
