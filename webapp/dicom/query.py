"""Modality Worklist C-FIND (IHE RAD-5), the query side: a query identifier in, a ``WorklistQuery`` out.

``parse_query`` checks the identifier and picks out the matching keys the database can answer
(station AE title, modality, start date and time, patient name and ID, accession number);
other keys with a value are kept to be matched against the built items (``webapp.dicom.worklist``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, time

from pydicom.datadict import get_entry
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag, Tag

SPS_SEQUENCE = Tag("ScheduledProcedureStepSequence")
# Keys the database matches; every other key with a value is matched against the built item.
TOP_SQL_KEYS = {Tag("PatientName"), Tag("PatientID"), Tag("AccessionNumber")}
SPS_SQL_KEYS = {
    Tag("ScheduledStationAETitle"), Tag("Modality"),
    Tag("ScheduledProcedureStepStartDate"), Tag("ScheduledProcedureStepStartTime"),
}
NOT_MATCHING_KEYS = {Tag("SpecificCharacterSet"), Tag("QueryRetrieveLevel"), Tag("TimezoneOffsetFromUTC")}
# Keys of the Scheduled Procedure Step item: at the top level they would match nothing (a common
# misconfiguration of scanners and test tools), so a value there is refused rather than answered empty.
SPS_ITEM_KEYS = {Tag(keyword) for keyword in (
    "ScheduledStationAETitle", "ScheduledStationName", "ScheduledProcedureStepLocation",
    "ScheduledProcedureStepStartDate", "ScheduledProcedureStepStartTime", "ScheduledProcedureStepEndDate",
    "ScheduledProcedureStepEndTime", "Modality", "ScheduledPerformingPhysicianName",
    "ScheduledProcedureStepDescription", "ScheduledProcedureStepID", "ScheduledProcedureStepStatus",
    "CommentsOnTheScheduledProcedureStep", "PreMedication", "RequestedContrastAgent",
)}
_UNDEFINED_LENGTH = 0xFFFFFFFF
_NO_PRIVATE_GROUPS = {0x0001, 0x0003, 0x0005, 0x0007, 0xFFFF}

_DA = re.compile(r"^\d{8}$")
_TM = re.compile(r"^(\d{2})(\d{2})?(\d{2})?(?:\.(\d{1,6}))?$")


class MalformedQuery(Exception):
    """The identifier cannot be a Modality Worklist query; ``tag`` names the offending key."""

    def __init__(self, message: str, tag: int | None = None) -> None:
        super().__init__(message)
        self.tag = tag


class UnreadableIdentifier(MalformedQuery):
    """The identifier's bytes are not a DICOM data set at all (C-FIND answers "unable to process")."""


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


def parse_date(value: str, tag: int) -> date:
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
        raise UnreadableIdentifier(f"The identifier cannot be read: {exc}") from exc


def _check_tag(dataset: Dataset, tag: BaseTag) -> None:
    raw = dataset.get_item(tag)  # before pydicom converts it: the length the bytes announced
    if isinstance(raw, RawDataElement) and raw.length != _UNDEFINED_LENGTH and len(raw.value or b"") < raw.length:
        raise UnreadableIdentifier(f"The identifier cannot be read: {tag} is cut short.", tag)
    if tag.element == 0:
        return  # group length
    if tag.is_private:
        creator = Tag(tag.group, tag.element >> 8)
        if tag.group in _NO_PRIVATE_GROUPS or tag.element < 0x0010 or (
            not tag.is_private_creator and (tag.element < 0x1000 or creator not in dataset)
        ):
            raise UnreadableIdentifier(f"The identifier cannot be read: private {tag} has no creator.", tag)
        return
    try:
        get_entry(tag)
    except KeyError:
        raise UnreadableIdentifier(f"The identifier cannot be read: {tag} is no DICOM attribute.", tag) from None


def check_readable(dataset: Dataset) -> None:
    """Refuse bytes that are no data set (random ones decode as one unknown element cut short):
    every element must be whole and a DICOM attribute, or a private one with its creator."""
    try:
        for tag in list(dataset.keys()):
            _check_tag(dataset, tag)
        for element in dataset:
            if element.VR == "SQ":
                for item in element.value or []:
                    check_readable(item)
    except UnreadableIdentifier:
        raise
    except Exception as exc:  # pydicom decodes lazily: a broken identifier fails here
        raise UnreadableIdentifier(f"The identifier cannot be read: {exc}") from exc


def parse_query(identifier: Dataset) -> WorklistQuery:
    """Check a C-FIND identifier and pick out its matching keys."""
    check_readable(identifier)
    query = WorklistQuery(identifier=identifier)
    sps_item = None
    for element in _elements(identifier):
        tag = element.tag
        if tag.group in (0x0000, 0x0002) or tag.is_private or tag in NOT_MATCHING_KEYS:
            continue
        if tag == SPS_SEQUENCE:
            sps_item = _sps_item(element)
        else:
            _parse_top_element(query, element)
    if sps_item is not None:
        _parse_sps_item(query, sps_item)
    _check_time_range(query)
    return query


def _sps_item(element: DataElement) -> Dataset | None:
    if element.VR != "SQ" or not isinstance(element.value, Sequence):
        raise MalformedQuery("Scheduled Procedure Step Sequence must be a sequence.", element.tag)
    if len(element.value) > 1:
        raise MalformedQuery("Scheduled Procedure Step Sequence takes at most one item.", element.tag)
    return element.value[0] if element.value else None


def _parse_top_element(query: WorklistQuery, element: DataElement) -> None:
    if element.tag in TOP_SQL_KEYS:
        _parse_top_key(query, element)
    elif element.VR == "SQ" or _is_universal(_value_text(element)):
        return  # other sequences are return keys only, and so are empty keys
    elif element.tag in SPS_ITEM_KEYS:
        raise MalformedQuery(f"{element.keyword} must be in sequence (0040,0100)", element.tag)
    else:
        query.other_top.append(_checked(element))


def _parse_sps_item(query: WorklistQuery, sps_item: Dataset) -> None:
    for element in _elements(sps_item):
        if element.tag.is_private or element.VR == "SQ":
            continue
        if element.tag in SPS_SQL_KEYS:
            _parse_sps_key(query, element)
        elif not _is_universal(_value_text(element)):
            query.other_sps.append(_checked(element))


def _check_time_range(query: WorklistQuery) -> None:
    low, high = query.time_range or (None, None)
    one_day = query.date_range is None or query.date_range[0] == query.date_range[1]
    if low is not None and high is not None and low > high and one_day:
        raise MalformedQuery("The time range ends before it starts.", Tag("ScheduledProcedureStepStartTime"))


def date_range(value: str, tag: int) -> tuple[date | None, date | None]:
    return _range(value, lambda v, _upper: parse_date(v, tag), tag)


def _checked(element: DataElement) -> DataElement:
    """A key matched against the item: dates must be dates or date ranges."""
    if element.VR == "DA":
        values = element.value if isinstance(element.value, MultiValue) else [element.value]
        for value in values:
            date_range(str(value).strip(), element.tag)
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
        query.date_range = date_range(value, tag)
    elif keyword == "ScheduledProcedureStepStartTime":
        # With a date range the times bound the first and last day: 2300-0700 over two days is fine.
        query.time_range = _range(value, lambda v, upper: _parse_time(v, tag, upper=upper), tag, ordered=False)


