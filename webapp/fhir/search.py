"""Search parameters of the FHIR API, parsed strictly (an unknown or malformed parameter is a 400
OperationOutcome, as HAPI FHIR answers by default), and the keyset-paged query they run.

Pages are newest order first, with the same opaque cursor as the JSON API (``_cursor``, from
webapp.imaging.queries); each repeated parameter narrows the search (AND), comma-separated
values widen it (OR).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, false, func, or_, select
from sqlalchemy.orm import joinedload

from webapp.db_types import clinic_day_bounds, clinic_zone
from webapp.errors import ValidationFailed
from webapp.extensions import db
from webapp.fhir import codes, media
from webapp.fhir.errors import FhirError, bad_parameter
from webapp.imaging.models import ImagingOrder
from webapp.paging import FIRST_YEAR, LAST_YEAR, MAX_LIMIT, decode_cursor, encode_cursor

DEFAULT_COUNT = 50
MAX_VALUES = 50  # comma-separated values one parameter may list
# Parameters every search takes (besides its own).
COMMON = ("_count", "_cursor", "_format")


@dataclass
class Search:
    """A parsed search: its conditions, page size and cursor, and the patients it names (logged
    as read even when nothing matched, like the API's list of a patient's orders)."""

    conditions: list = field(default_factory=list)
    count: int = DEFAULT_COUNT
    cursor: str | None = None
    patients: list[uuid.UUID] = field(default_factory=list)


@dataclass
class Page:
    rows: list[ImagingOrder]
    next_cursor: str | None
    total: int


def check_format(args) -> None:
    """Only JSON is served: ``_format`` naming anything else is 406 (webapp.fhir.media)."""
    media.check_format(args.getlist("_format"))


def parse(args, parameters: dict) -> Search:
    """``parameters`` maps each search parameter name to ``parser(search, name, value)`` (None: the
    caller reads that parameter itself)."""
    known = set(parameters) | set(COMMON)
    unknown = sorted({name for name in args if name not in known})
    if unknown:
        raise FhirError(400, f"Unknown or unsupported search parameter(s): {', '.join(unknown)}. "
                             f"This search takes: {', '.join(sorted(known))}.", code="not-supported",
                        expression=unknown[0])
    check_format(args)
    search = Search(count=_count(args.getlist("_count")), cursor=_cursor(args.getlist("_cursor")))
    for name, parser in parameters.items():
        for value in args.getlist(name) if parser else ():
            parser(search, name, value)
    return search


def _single(name: str, values: list[str]) -> str | None:
    if len(values) > 1:
        raise bad_parameter(name, "Give it once.")
    return values[0] if values else None


def _count(values: list[str]) -> int:
    value = _single("_count", values)
    if value is None:
        return DEFAULT_COUNT
    if not value.isdigit() or int(value) > MAX_LIMIT:
        raise bad_parameter("_count", f"A whole number from 0 to {MAX_LIMIT}.")
    return int(value)


def _cursor(values: list[str]) -> str | None:
    value = _single("_cursor", values)
    if value:
        try:
            decode_cursor(value)
        except ValidationFailed:
            raise bad_parameter("_cursor", "Not a cursor this server gave out (follow the Bundle's next link).") \
                from None
    return value or None


def _values(name: str, value: str) -> list[str]:
    items = [item.strip() for item in value.split(",")]
    if not all(items) or len(items) > MAX_VALUES:
        raise bad_parameter(name, f"One to {MAX_VALUES} comma-separated values, none empty.")
    return items


# ---------------------------------------------------------------------------- parameter parsers


def identifier(search: Search, name: str, value: str) -> None:
    """``[system]|value`` or ``value``: the accession number (ACSN), the order number (placer), or,
    without a system, the placer number an EHR gave the order over HL7 (ORC-2, any case)."""
    from webapp.hl7.models import Hl7PlacerOrder

    options = []
    for item in _values(name, value):
        system, bar, number = item.rpartition("|")
        number = number.strip().upper()
        if not number:
            raise bad_parameter(name, "A value after the '|'.")
        by_accession = ImagingOrder.accession_number == number
        by_order_number = ImagingOrder.order_number == number
        if not bar or not system:
            by_placer = ImagingOrder.id.in_(select(Hl7PlacerOrder.order_id)
                                            .where(func.upper(Hl7PlacerOrder.placer_number) == number))
            options += [by_accession, by_order_number, by_placer]
        elif system == codes.accession_system():
            options.append(by_accession)
        elif system == codes.order_system():
            options.append(by_order_number)
        # another system's identifier: no order has it
    search.conditions.append(or_(*options) if options else false())


def patient_identifier(search: Search, name: str, value: str) -> None:
    """Patient ``identifier``: ``[system|]value``, the MRN (any case, as the identity rule compares
    it: webapp.patients.identity.mrn_key). A system other than FHIR_MRN_SYSTEM, or none (``|value``),
    matches nothing: no other identifier is kept."""
    from webapp.patients.identity import mrn_key
    from webapp.patients.models import Patient

    keys = []
    for item in _values(name, value):
        system, bar, number = item.partition("|") if "|" in item else ("", "", item)
        if not number.strip():
            raise bad_parameter(name, "A value after the '|'.")
        if not bar or system == codes.mrn_system():
            keys.append(mrn_key(number))
    search.conditions.append(Patient.mrn_key.in_(keys) if keys else false())


def reference_ids(name: str, value: str, resource_type: str) -> list[uuid.UUID | None]:
    """The ids a reference parameter names (``Type/id``, ``id`` or an absolute URL); an id that is
    no UUID names nothing here (None), a reference to another resource type is an error."""
    keys = []
    for item in _values(name, value):
        kind, slash, key = item.rstrip("/").rpartition("/")
        if slash and kind.rpartition("/")[2] != resource_type:
            raise bad_parameter(name, f"A reference to a {resource_type} ({resource_type}/<id>).")
        try:
            keys.append(uuid.UUID(key))
        except ValueError:
            keys.append(None)
    return keys


def patient(search: Search, name: str, value: str) -> None:
    keys = [key for key in reference_ids(name, value, "Patient") if key is not None]
    search.patients += keys
    search.conditions.append(ImagingOrder.patient_id.in_(keys) if keys else false())


def based_on(search: Search, name: str, value: str) -> None:
    keys = [key for key in reference_ids(name, value, "ServiceRequest") if key is not None]
    search.conditions.append(ImagingOrder.id.in_(keys) if keys else false())


def status(search: Search, name: str, value: str) -> None:
    statuses = []
    for code in _values(name, value):
        if code not in codes.REQUEST_STATUS_CODES:
            raise bad_parameter(name, f"One of: {', '.join(codes.REQUEST_STATUS_CODES)}.")
        statuses += codes.order_statuses(code)
    search.conditions.append(ImagingOrder.status.in_(statuses) if statuses else false())


PREFIXES = ("eq", "ge", "gt", "le", "lt")
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def moment_range(text: str) -> tuple[datetime, datetime]:
    """The span a FHIR date or dateTime covers (a year, month, day or second; zone-less values are
    the clinic's time), as aware UTC datetimes [start, end)."""
    if _DATE.match(text):
        year, month, day = (int(part) for part in (text.split("-") + ["0", "0"])[:3])
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise ValueError
        if day:
            return clinic_day_bounds(datetime(year, month, day).date())
        first = datetime(year, month or 1, 1, tzinfo=clinic_zone())
        last = datetime(year + (month == 12 or not month), (month % 12 + 1) if month else 1, 1, tzinfo=clinic_zone())
        return first.astimezone(UTC), last.astimezone(UTC)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=clinic_zone())
    if not FIRST_YEAR <= moment.astimezone(UTC).year <= LAST_YEAR or "T" not in text:
        raise ValueError
    step = timedelta(microseconds=1) if moment.microsecond else timedelta(seconds=1)
    return moment.astimezone(UTC), (moment + step).astimezone(UTC)


def last_updated(search: Search, name: str, value: str) -> None:
    """``[prefix]date``: ge, gt, le, lt, or eq (the default) the span of the value's precision."""
    text = value.strip()
    prefix = text[:2] if text[:2].isalpha() else "eq"
    text = text[2:] if text[:2].isalpha() else text
    if prefix not in PREFIXES:
        raise bad_parameter(name, f"Prefixes supported: {', '.join(PREFIXES)}.")
    try:
        start, end = moment_range(text)
    except (ValueError, OverflowError):
        raise bad_parameter(name, "A date (YYYY, YYYY-MM, YYYY-MM-DD) or a dateTime "
                                  "(YYYY-MM-DDThh:mm:ss with an optional zone), with an optional prefix.") from None
    column = ImagingOrder.updated_at
    search.conditions.append({
        "eq": and_(column >= start, column < end), "ge": column >= start, "gt": column >= end,
        "le": column < end, "lt": column < start,
    }[prefix])


# ---------------------------------------------------------------------------- the query


def run(search: Search, extra: Iterable = (), loads: Iterable = ()) -> Page:
    """One page of the orders the search matches, newest first, and how many match in all."""
    conditions = [*search.conditions, *extra]
    statement = select(ImagingOrder).where(*conditions).options(
        joinedload(ImagingOrder.diagnosis), *(joinedload(attribute) for attribute in loads))
    if search.cursor:
        moment, key = decode_cursor(search.cursor)
        statement = statement.where(
            ImagingOrder.ordered_date <= moment,
            or_(ImagingOrder.ordered_date < moment, and_(ImagingOrder.ordered_date == moment, ImagingOrder.id < key)),
        )
    rows: list[ImagingOrder] = []
    if search.count:
        statement = statement.order_by(ImagingOrder.ordered_date.desc(), ImagingOrder.id.desc())
        rows = list(db.session.execute(statement.limit(search.count + 1)).unique().scalars())
    more = len(rows) > search.count
    rows = rows[: search.count]
    if not search.cursor and not more and search.count:
        total = len(rows)  # the whole result is on this first page: no need to count
    else:
        total = db.session.scalar(select(func.count()).select_from(ImagingOrder).where(*conditions))
    return Page(rows, encode_cursor(rows[-1].ordered_date, rows[-1].id) if more else None, total)
