"""Modality Worklist C-FIND (IHE RAD-5): a query identifier in, worklist items out.

``parse_query`` checks the identifier and turns the matching keys the database can answer
(station AE title, modality, start date and time, patient name and ID, accession number)
into a ``WorklistQuery``; ``find_items`` asks ``webapp.imaging.queries`` for the orders and
builds one item per order (DICOM PS3.4 K.6), holding only the keys the scanner asked for.
Other keys with a value are matched here against the built item.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from flask import current_app
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import Tag

from webapp.db_types import clinic_zone
from webapp.dicom.values import LO, LT, SH, person_name, person_name_from_full, text
from webapp.extensions import db
from webapp.imaging import queries
from webapp.imaging.models import ImagingModality, ImagingOrder

CHARACTER_SET = "ISO_IR 192"  # UTF-8
CPT_SCHEME = "C4"  # the DICOM coding scheme designator of CPT-4
# Scanners of plain radiography call themselves CR or DX; our XRAY is DX in the reference data.
MODALITY_ALIASES = {"CR": "DX"}
SEX_CODES = {"male": "M", "female": "F", "other": "O"}
PRIORITY_CODES = {"stat": "STAT", "urgent": "HIGH", "routine": "ROUTINE"}
MAX_ITEMS = 1000

SPS_SEQUENCE = Tag("ScheduledProcedureStepSequence")
# Keys the database matches; every other key with a value is matched against the built item.
TOP_SQL_KEYS = {Tag("PatientName"), Tag("PatientID"), Tag("AccessionNumber")}
SPS_SQL_KEYS = {
    Tag("ScheduledStationAETitle"), Tag("Modality"),
    Tag("ScheduledProcedureStepStartDate"), Tag("ScheduledProcedureStepStartTime"),
}
NOT_MATCHING_KEYS = {Tag("SpecificCharacterSet"), Tag("QueryRetrieveLevel"), Tag("TimezoneOffsetFromUTC")}

_DA = re.compile(r"^\d{8}$")
_TM = re.compile(r"^(\d{2})(\d{2})?(\d{2})?(?:\.(\d{1,6}))?$")


class MalformedQuery(Exception):
    """The identifier cannot be a Modality Worklist query; ``tag`` names the offending key."""

    def __init__(self, message: str, tag: int | None = None) -> None:
        super().__init__(message)
        self.tag = tag


@dataclass
class WorklistQuery:
    identifier: Dataset
    station_ae_like: str | None = None
    modality_values: list[str] | None = None
    date_range: tuple[date | None, date | None] | None = None
    time_range: tuple[time | None, time | None] | None = None
    accession_like: str | None = None
    patient_id_like: str | None = None
    family_name_like: str | None = None
    given_name_like: str | None = None
    full_name_like: str | None = None
    other_top: list[DataElement] = field(default_factory=list)
    other_sps: list[DataElement] = field(default_factory=list)


# ---------------------------------------------------------------------------- parsing


def _is_universal(value: object) -> bool:
    return value is None or str(value).strip() in ("", "*")


def like_pattern(value: str) -> str:
    """A DICOM wildcard value (``*`` any run, ``?`` one character) as an escaped SQL LIKE pattern."""
    out = []
    for char in value:
        if char == "*":
            out.append("%")
        elif char == "?":
            out.append("_")
        elif char in "%_\\":
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def _single(element: DataElement) -> str | None:
    value = element.value
    if isinstance(value, MultiValue):
        if len(value) > 1:
            raise MalformedQuery(f"{element.keyword} takes one value.", element.tag)
        value = value[0] if value else None
    if value is None:
        return None
    return str(value).strip()


def _parse_date(value: str, tag: int) -> date:
    if not _DA.match(value):
        raise MalformedQuery(f"{value!r} is not a DICOM date (YYYYMMDD).", tag)
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        raise MalformedQuery(f"{value!r} is not a calendar date.", tag) from None


def _parse_time(value: str, tag: int, *, upper: bool) -> time:
    """A TM value; a lower bound fills missing parts with 0, an upper bound with their maximum."""
    match = _TM.match(value)
    if not match:
        raise MalformedQuery(f"{value!r} is not a DICOM time (HHMMSS).", tag)
    hours, minutes, seconds, fraction = match.groups()
    try:
        return time(
            int(hours),
            int(minutes) if minutes else (59 if upper else 0),
            int(seconds) if seconds else (59 if upper else 0),
            int(fraction.ljust(6, "0")) if fraction else (999999 if upper and not seconds else 0),
        )
    except ValueError:
        raise MalformedQuery(f"{value!r} is not a time of day.", tag) from None


def _range(value: str, parse, tag: int, *, ordered: bool = True) -> tuple:
    if value.count("-") > 1:
        raise MalformedQuery(f"{value!r} is not a range.", tag)
    if "-" not in value:
        return parse(value, False), parse(value, True)
    low, high = value.split("-")
    if not low and not high:
        raise MalformedQuery("A range needs at least one end.", tag)
    bounds = (parse(low, False) if low else None, parse(high, True) if high else None)
    if ordered and bounds[0] is not None and bounds[1] is not None and bounds[0] > bounds[1]:
        raise MalformedQuery(f"The range {value!r} ends before it starts.", tag)
    return bounds


def _elements(dataset: Dataset) -> Iterable[DataElement]:
    try:
        yield from dataset
    except Exception as exc:  # pydicom decodes lazily: a broken identifier fails here
        raise MalformedQuery(f"The identifier cannot be decoded: {exc}") from exc


def parse_query(identifier: Dataset) -> WorklistQuery:
    """Check a C-FIND identifier and pick out its matching keys."""
    query = WorklistQuery(identifier=identifier)
    sps_item = None
    for element in _elements(identifier):
        tag = element.tag
        if tag.group in (0x0000, 0x0002) or tag.is_private or tag in NOT_MATCHING_KEYS:
            continue
        if tag == SPS_SEQUENCE:
            if element.VR != "SQ" or not isinstance(element.value, Sequence):
                raise MalformedQuery("Scheduled Procedure Step Sequence must be a sequence.", tag)
            if len(element.value) > 1:
                raise MalformedQuery("Scheduled Procedure Step Sequence takes at most one item.", tag)
            sps_item = element.value[0] if element.value else None
        elif tag in TOP_SQL_KEYS:
            _parse_top_key(query, element)
        elif element.VR == "SQ":
            continue  # other sequences are return keys only
        elif not _is_universal(_value_text(element)):
            query.other_top.append(_checked(element))
    if sps_item is not None:
        for element in _elements(sps_item):
            if element.tag.is_private or element.VR == "SQ":
                continue
            if element.tag in SPS_SQL_KEYS:
                _parse_sps_key(query, element)
            elif not _is_universal(_value_text(element)):
                query.other_sps.append(_checked(element))
    low, high = query.time_range or (None, None)
    one_day = query.date_range is None or query.date_range[0] == query.date_range[1]
    if low is not None and high is not None and low > high and one_day:
        raise MalformedQuery("The time range ends before it starts.", Tag("ScheduledProcedureStepStartTime"))
    return query


def _date_range(value: str, tag: int) -> tuple[date | None, date | None]:
    return _range(value, lambda v, _upper: _parse_date(v, tag), tag)


def _checked(element: DataElement) -> DataElement:
    """A key matched against the item: dates must be dates or date ranges."""
    if element.VR == "DA":
        values = element.value if isinstance(element.value, MultiValue) else [element.value]
        for value in values:
            _date_range(str(value).strip(), element.tag)
    return element


def _value_text(element: DataElement) -> str:
    value = element.value
    if isinstance(value, MultiValue):
        return "\\".join(str(v) for v in value)
    return "" if value is None else str(value)


def _parse_top_key(query: WorklistQuery, element: DataElement) -> None:
    value = _single(element)
    if _is_universal(value):
        return
    if element.keyword == "AccessionNumber":
        query.accession_like = like_pattern(value.upper())
    elif element.keyword == "PatientID":
        query.patient_id_like = like_pattern(value)
    elif element.keyword == "PatientName":
        name = value.split("=")[0]  # the alphabetic group; ideographic and phonetic are not kept
        if "^" in name:
            family, given = (name.split("^") + [""])[:2]
            query.family_name_like = None if _is_universal(family) else like_pattern(family)
            query.given_name_like = None if _is_universal(given) else like_pattern(given)
        elif "*" in name or "?" in name:
            query.full_name_like = like_pattern(name)
        else:
            query.family_name_like = like_pattern(name)


def _parse_sps_key(query: WorklistQuery, element: DataElement) -> None:
    keyword, tag = element.keyword, element.tag
    if keyword == "Modality":
        value = element.value
        values = [str(v).strip().upper() for v in (value if isinstance(value, MultiValue) else [value]) if v]
        if values and not any(_is_universal(v) for v in values):
            query.modality_values = values
        return
    value = _single(element)
    if _is_universal(value):
        return
    if keyword == "ScheduledStationAETitle":
        query.station_ae_like = like_pattern(value.upper())
    elif keyword == "ScheduledProcedureStepStartDate":
        query.date_range = _date_range(value, tag)
    elif keyword == "ScheduledProcedureStepStartTime":
        # With a date range the times bound the first and last day: 2300-0700 over two days is fine.
        query.time_range = _range(value, lambda v, upper: _parse_time(v, tag, upper=upper), tag, ordered=False)


# ---------------------------------------------------------------------------- matching


def offered_statuses() -> tuple[str, ...]:
    """Scheduled orders, and ordered ones too when DICOM_OFFER_ORDERED is set."""
    return ("scheduled", "ordered") if current_app.config.get("DICOM_OFFER_ORDERED") else ("scheduled",)


def _modality_codes(values: list[str]) -> tuple[list[str], dict[str, str]]:
    """Our modality codes for the DICOM values asked for, and the value to answer each with."""
    codes: list[str] = []
    answer_as: dict[str, str] = {}
    for row in db.session.scalars(db.select(ImagingModality)):
        for value in values:
            if value in (row.dicom_modality, row.code) or MODALITY_ALIASES.get(value) == row.dicom_modality:
                codes.append(row.code)
                # A CR scanner asked for CR: answer CR, so that it keeps the item.
                answer_as[row.code] = value if value != row.code else row.dicom_modality
                break
    return codes, answer_as


def _start_bounds(query: WorklistQuery) -> tuple[datetime | None, datetime | None]:
    """The UTC instants the scheduled start must lie in (date and time combine into one range)."""
    if query.date_range is None:
        return None, None
    zone = clinic_zone()
    low_day, high_day = query.date_range
    low_time, high_time = query.time_range or (None, None)
    start = datetime.combine(low_day, low_time or time(0), zone).astimezone(UTC) if low_day else None
    end = None
    if high_day:
        if high_time:
            end = datetime.combine(high_day, high_time, zone).astimezone(UTC) + timedelta(microseconds=1)
        else:
            end = datetime.combine(high_day + timedelta(days=1), time(0), zone).astimezone(UTC)
    return start, end


def find_items(query: WorklistQuery) -> list[Dataset]:
    """The worklist items answering ``query`` (inside an app context)."""
    codes, answer_as = (None, {})
    if query.modality_values is not None:
        codes, answer_as = _modality_codes(query.modality_values)
        if not codes:
            return []
    start_from, start_before = _start_bounds(query)
    orders = queries.scheduled_step_orders(
        statuses=offered_statuses(),
        station_ae_like=query.station_ae_like,
        modality_codes=codes,
        start_from=start_from,
        start_before=start_before,
        accession_like=query.accession_like,
        mrn_like=query.patient_id_like,
        family_name_like=query.family_name_like,
        given_name_like=query.given_name_like,
        full_name_like=query.full_name_like,
        limit=MAX_ITEMS,
    )
    zone = clinic_zone()
    items = []
    for order in orders:
        if query.time_range and query.date_range is None and not _time_matches(order, query.time_range, zone):
            continue
        item = worklist_item(order, answer_as.get(order.modality))
        if _other_keys_match(item, query):
            items.append(restrict_to_keys(item, query.identifier))
    return items


def _time_matches(order: ImagingOrder, bounds: tuple[time | None, time | None], zone) -> bool:
    local = _start(order).astimezone(zone).time()
    low, high = bounds
    return (low is None or local >= low) and (high is None or local <= high)


def _value_matches(have: object, wanted: DataElement) -> bool:
    """Single value, wildcard, list (several values) and, for dates, range matching."""
    wanted_values = wanted.value if isinstance(wanted.value, MultiValue) else [wanted.value]
    have_text = "" if have is None else str(have)
    if not have_text:
        return False
    for value in wanted_values:
        pattern = str(value).strip()
        if wanted.VR == "DA":
            low, high = _date_range(pattern, wanted.tag)
            day = _parse_date(have_text, wanted.tag)
            if (low is None or day >= low) and (high is None or day <= high):
                return True
        elif wanted.VR == "PN":
            if fnmatch.fnmatchcase(have_text.lower(), pattern.lower().replace("[", "[[]")):
                return True
        elif fnmatch.fnmatchcase(have_text, pattern.replace("[", "[[]")):
            return True
    return False


def _other_keys_match(item: Dataset, query: WorklistQuery) -> bool:
    for element in query.other_top:
        if not _value_matches(item.get(element.tag).value if element.tag in item else None, element):
            return False
    sps = item[SPS_SEQUENCE].value[0]
    for element in query.other_sps:
        if not _value_matches(sps.get(element.tag).value if element.tag in sps else None, element):
            return False
    return True


# ---------------------------------------------------------------------------- items


def _start(order: ImagingOrder) -> datetime:
    return order.scheduled_date or order.ordered_date


def _code_item(order: ImagingOrder) -> Dataset:
    code = Dataset()
    code.CodeValue = text(order.procedure_code, SH)
    code.CodingSchemeDesignator = CPT_SCHEME
    code.CodeMeaning = text(order.procedure_name, LO)
    return code


def worklist_item(order: ImagingOrder, modality: str | None = None) -> Dataset:
    """Every attribute the worklist offers for one order (PS3.4 K.6), in the clinic's time zone."""
    patient = order.patient
    local_start = _start(order).astimezone(clinic_zone())
    doctor = order.ordering_doctor
    referring = person_name_from_full(doctor.display_name) if doctor else ""
    description = text(order.description, LO)
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
    ds.ReasonForTheRequestedProcedure = text(order.clinical_indication, LO)
    ds.RequestingPhysician = referring
    ds.StudyDescription = description

    sps = Dataset()
    sps.ScheduledStationAETitle = order.scheduled_station_ae or ""
    sps.ScheduledStationName = text(station.ae_title, SH) if station else ""
    sps.ScheduledProcedureStepLocation = text(station.room, SH) if station else ""
    sps.ScheduledProcedureStepStartDate = local_start.strftime("%Y%m%d")
    sps.ScheduledProcedureStepStartTime = local_start.strftime("%H%M%S")
    sps.Modality = modality or order.modality_ref.dicom_modality
    sps.ScheduledPerformingPhysicianName = ""
    sps.ScheduledProcedureStepDescription = description
    sps.ScheduledProtocolCodeSequence = [_code_item(order)] if order.procedure_code else []
    sps.ScheduledProcedureStepID = text(order.accession_number, SH)
    sps.ScheduledProcedureStepStatus = "SCHEDULED"
    sps.CommentsOnTheScheduledProcedureStep = text(order.special_instructions, LT)
    ds.ScheduledProcedureStepSequence = [sps]
    return ds


def restrict_to_keys(item: Dataset, requested: Dataset, *, top: bool = True) -> Dataset:
    """Only the keys the scanner asked for (an empty sequence key asks for whole items).

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
        out.SpecificCharacterSet = CHARACTER_SET
    return out
