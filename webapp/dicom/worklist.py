"""Modality Worklist C-FIND (IHE RAD-5): which orders answer a query.

``webapp.dicom.query`` turns the identifier into a ``WorklistQuery``; ``find_items`` asks
``webapp.imaging.boards`` for the orders, takes one item's values per order
(``webapp.dicom.items``; the patients' safety records loaded for all of them at once), matches
the keys the database does not against them and encodes the asked keys straight to bytes
(``webapp.dicom.encoding``); ``webapp.dicom.responses`` sends them.

* **A scanner's own bookings**: ScheduledStationAETitle in the query matches the booked scanner;
  with DICOM_STATION_FROM_CALLING_AE=1 a query without one, from a calling AE title registered as
  a station, gets that station's bookings only (an explicit key still wins).
* **A cap**: at most DICOM_WORKLIST_MAX_ITEMS items (default 1000). A query matching more is
  answered with the first ones (earliest start first) and then the final status A700 "Refused:
  Out of Resources" (PS3.4 Table K.4-1) naming the cap, instead of a success that would hide the
  rest (``WorklistAnswer.truncated``; webapp.dicom.server sends it).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from flask import current_app
from pydicom.dataelem import DataElement
from pydicom.multival import MultiValue
from sqlalchemy import select

from webapp.db_types import clinic_zone
from webapp.dicom.encoding import answer_bytes, asks_for_latin1, shape_of
from webapp.dicom.items import item_values, start_of, worklist_item
from webapp.dicom.query import (
    SPS_SEQUENCE,
    MalformedQuery,
    WorklistQuery,
    date_range,
    like_pattern,
    parse_date,
    parse_query,
)
from webapp.dicom.safety_items import records_for
from webapp.extensions import db
from webapp.imaging import boards
from webapp.imaging.models import ImagingModality, ImagingOrder, Station

__all__ = ["MalformedQuery", "WorklistAnswer", "WorklistQuery", "find_items", "parse_query", "worklist_item"]

# Scanners of plain radiography call themselves CR or DX; our XRAY is DX in the reference data.
MODALITY_ALIASES = {"CR": "DX"}
DEFAULT_MAX_ITEMS = 1000


@dataclass
class WorklistAnswer:
    items: list[bytes]  # each item's identifier, encoded for the association's transfer syntax
    truncated: bool = False  # more orders matched than the cap: the answer is incomplete
    limit: int = DEFAULT_MAX_ITEMS
    station: str | None = None  # the station the calling AE title stood for, if any


def max_items() -> int:
    return int(current_app.config.get("DICOM_WORKLIST_MAX_ITEMS", DEFAULT_MAX_ITEMS))


def station_of_caller(calling_ae: str | None) -> str | None:
    """With DICOM_STATION_FROM_CALLING_AE: the calling AE title when it is a registered, active station."""
    if not calling_ae or not current_app.config.get("DICOM_STATION_FROM_CALLING_AE"):
        return None
    title = calling_ae.strip().upper()
    found = db.session.scalar(select(Station.ae_title).where(Station.ae_title == title, Station.is_active))
    return found


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


def find_items(query: WorklistQuery, *, calling_ae: str | None = None, implicit: bool = True,
               little: bool = True) -> WorklistAnswer:
    """The worklist items answering ``query`` (inside an app context), encoded for the
    association's transfer syntax (``implicit`` VR, ``little`` endian)."""
    codes, answer_as = (None, {})
    if query.modality_values is not None:
        codes, answer_as = _modality_codes(query.modality_values)
        if not codes:
            return WorklistAnswer([], limit=max_items())
    station_like, station = query.station_ae_like, None
    if station_like is None:
        station = station_of_caller(calling_ae)
        station_like = like_pattern(station) if station else None
    start_from, start_before = _start_bounds(query)
    limit = max_items()
    orders = boards.scheduled_step_orders(
        statuses=offered_statuses(),
        station_ae_like=station_like,
        modality_codes=codes,
        start_from=start_from,
        start_before=start_before,
        accession_like=query.accession_like,
        mrn_like=query.patient_id_like,
        family_name_like=query.family_name_like,
        given_name_like=query.given_name_like,
        full_name_like=query.full_name_like,
        arrived_only=bool(current_app.config.get("DICOM_REQUIRE_ARRIVAL")),
        limit=limit + 1,
    )
    truncated = len(orders) > limit
    zone = clinic_zone()
    keys, latin1 = shape_of(query.identifier), asks_for_latin1(query.identifier)
    orders = orders[:limit]
    if query.time_range and query.date_range is None:
        orders = [order for order in orders if _time_matches(order, query.time_range, zone)]
    safety = records_for(orders)
    items = []
    for order in orders:
        values = item_values(order, answer_as.get(order.modality), zone, {"safety": safety.get(order.patient_id)})
        if _other_keys_match(values, query):
            items.append(answer_bytes(values, keys, latin1=latin1, implicit=implicit, little=little))
    return WorklistAnswer(items, truncated=truncated, limit=limit, station=station)


def _time_matches(order: ImagingOrder, bounds: tuple[time | None, time | None], zone) -> bool:
    local = start_of(order).astimezone(zone).time()
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
            low, high = date_range(pattern, wanted.tag)
            day = parse_date(have_text, wanted.tag)
            if (low is None or day >= low) and (high is None or day <= high):
                return True
        elif wanted.VR == "PN":
            if fnmatch.fnmatchcase(have_text.lower(), pattern.lower().replace("[", "[[]")):
                return True
        elif fnmatch.fnmatchcase(have_text, pattern.replace("[", "[[]")):
            return True
    return False


def _other_keys_match(values: Mapping[int, Any], query: WorklistQuery) -> bool:
    for element in query.other_top:
        if not _value_matches(values.get(element.tag), element):
            return False
    step = values[SPS_SEQUENCE][0]
    for element in query.other_sps:
        if not _value_matches(step.get(element.tag), element):
            return False
    return True
