"""The rules an order's values must follow: text limits, the editable fields, the checks of codes,
dates, counts and stations, and the version check.

Forms (webapp.imaging.forms), the API schemas (webapp.api.schemas), the order actions
(webapp.imaging.actions) and the services read them here. Each check adds a message to
``errors`` (field name -> text) and returns the cleaned value, or None when there is none.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import literal, select

from webapp.errors import StaleVersion
from webapp.extensions import db
from webapp.imaging.models import (
    CONTRASTS,
    LATERALITIES,
    PRIORITIES,
    BodyPart,
    ImagingModality,
    ImagingOrder,
    Procedure,
    Station,
)

if TYPE_CHECKING:  # the visits package imports imaging.workflow, which reads the actions of this package
    from webapp.visits.models import Diagnosis, Visit

# Longest accepted free text; the API schemas and forms use the same numbers.
TEXT_LIMITS = {
    "clinical_indication": 2000,
    "clinical_history": 4000,
    "special_instructions": 2000,
    "notes": 4000,
    "note": 4000,
    "findings": 20000,
    "impression": 5000,
    "report_text": 50000,
    "reason": 1000,
    "technique": 5000,
    "comparison": 5000,
    "template_code": 32,
    "addendum": 20000,
    "critical_note": 1000,
    "comment": 4000,  # a peer review's comment (webapp.reporting.peer_review)
    "protocol": 200,
    "protocol_notes": 2000,
}
EDITABLE_FIELDS = (
    "modality",
    "body_part",
    "procedure_code",
    "laterality",
    "clinical_indication",
    "clinical_history",
    "special_instructions",
    "priority",
    "diagnosis_id",
    "contrast",
)
MAX_IMAGES = 100_000
MAX_NOTES_LENGTH = 20_000  # all of an order's notes together (five full notes of 4,000; a page of the order shows them all)

Errors = dict[str, str]


def clean_text(value: Any, name: str, errors: Errors, *, required: bool = False) -> str | None:
    """Trimmed text within TEXT_LIMITS[name]; empty is None (an error when required)."""
    if value is None:
        if required:
            errors[name] = "This field is required."
        return None
    if not isinstance(value, str):
        errors[name] = "Must be text."
        return None
    value = value.strip()
    if not value:
        if required:
            errors[name] = "This field is required."
        return None
    limit = TEXT_LIMITS.get(name)
    if limit and len(value) > limit:
        errors[name] = f"At most {limit} characters (got {len(value)})."
        return None
    return value


def parse_uuid(value: Any) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


# ---------------------------------------------------------------------------- the clinical choice

_ONE_ROW = select(literal(1).label("one")).subquery()


def _catalogue_rows(
    modality_code: Any, body_part_code: Any, procedure_code: Any
) -> tuple[ImagingModality | None, BodyPart | None, Procedure | None]:
    """The modality, body part and procedure rows named (None where unknown), in one query."""
    codes = [code if isinstance(code, str) and code else None
             for code in (modality_code, body_part_code, procedure_code)]
    if not any(codes):
        return None, None, None
    row = db.session.execute(
        select(ImagingModality, BodyPart, Procedure)
        .select_from(_ONE_ROW)
        .outerjoin(ImagingModality, ImagingModality.code == codes[0])
        .outerjoin(BodyPart, BodyPart.code == codes[1])
        .outerjoin(Procedure, Procedure.code == codes[2])
    ).one()
    return row[0], row[1], row[2]


def _check_modality(modality: ImagingModality | None, errors: Errors) -> ImagingModality | None:
    if modality is None:
        errors["modality"] = "Unknown modality."
    elif not modality.is_active:
        errors["modality"] = f"{modality.name} is not offered at the moment."
        return None
    return modality


def _check_body_part(body_part: BodyPart | None, modality: ImagingModality | None, errors: Errors) -> BodyPart | None:
    if body_part is None:
        errors["body_part"] = "Unknown body part."
    elif modality is not None and modality.code not in body_part.modalities:
        errors["body_part"] = f"{body_part.name} cannot be imaged with {modality.name}."
        return None
    return body_part


def _check_procedure(
    code: Any, procedure: Procedure | None, modality: ImagingModality | None, body_part: BodyPart | None,
    errors: Errors,
) -> Procedure | None:
    if code in (None, ""):
        return procedure
    if procedure is None or not procedure.is_active:
        errors["procedure_code"] = "Unknown procedure code."
        return None
    if modality is not None and body_part is not None and (
        procedure.modality != modality.code or procedure.body_part != body_part.code
    ):
        errors["procedure_code"] = f"{procedure.name} does not match the modality and body part."
        return None
    return procedure


def _check_laterality(
    laterality: Any, body_part: BodyPart | None, procedure: Procedure | None, errors: Errors
) -> str | None:
    if laterality in ("", None):
        laterality = None
    if laterality is not None and laterality not in LATERALITIES:
        errors["laterality"] = "Must be left, right or bilateral."
    elif procedure is not None and procedure.fixed_laterality:
        laterality = _check_fixed_side(laterality, procedure, errors)
    elif body_part is not None:
        needs_side = procedure.requires_laterality if procedure else body_part.is_paired
        if laterality is None and needs_side:
            errors["laterality"] = f"Say which side: {body_part.name} is paired."
        elif laterality is not None and not body_part.is_paired:
            errors["laterality"] = f"{body_part.name} has no sides; leave laterality empty."
    return laterality


def _check_fixed_side(laterality: str | None, procedure: Procedure, errors: Errors) -> str | None:
    """A procedure that fixes the side (bilateral mammography): no side given is that side; another
    side contradicts the procedure and is refused."""
    if laterality is None or laterality == procedure.fixed_laterality:
        return procedure.fixed_laterality
    errors["laterality"] = (
        f"{procedure.name} is always {procedure.fixed_laterality}: laterality {laterality} contradicts it."
    )
    return None


def check_clinical_choice(
    errors: Errors, modality_code: Any, body_part_code: Any, procedure_code: Any, laterality: Any
) -> tuple[ImagingModality | None, BodyPart | None, Procedure | None, str | None]:
    """Modality active, body part valid for it, procedure consistent with both, laterality right."""
    modality, body_part, procedure = _catalogue_rows(modality_code, body_part_code, procedure_code)
    modality = _check_modality(modality, errors)
    body_part = _check_body_part(body_part, modality, errors)
    procedure = _check_procedure(procedure_code, procedure, modality, body_part, errors)
    laterality = _check_laterality(laterality, body_part, procedure, errors)
    return modality, body_part, procedure, laterality


def check_priority(value: Any, errors: Errors) -> str | None:
    if value in (None, ""):
        return "routine"
    if value not in PRIORITIES:
        errors["priority"] = "Must be routine, urgent or stat."
        return None
    return value


def check_contrast(value: Any, default: str, errors: Errors) -> str | None:
    """none, iodinated or gadolinium; not given: ``default`` (the procedure's)."""
    if value in (None, ""):
        return default
    if value not in CONTRASTS:
        errors["contrast"] = "Must be none, iodinated or gadolinium."
        return None
    return value


def check_diagnosis(value: Any, visit: Visit | None, errors: Errors) -> Diagnosis | None:
    from webapp.visits.models import Diagnosis

    if value in (None, ""):
        return None
    key = parse_uuid(value)
    diagnosis = db.session.get(Diagnosis, key) if key else None
    if diagnosis is None or (visit is not None and diagnosis.visit_id != visit.id):
        errors["diagnosis_id"] = "Not a diagnosis of this visit."
        return None
    return diagnosis


# ---------------------------------------------------------------------------- values of order actions


def check_station(value: Any, order: ImagingOrder, errors: Errors) -> Station | None:
    """An active station (by AE title, any case) whose modality is the order's."""
    ae_title = value.strip().upper() if isinstance(value, str) else None
    station = (
        db.session.scalar(db.select(Station).where(Station.ae_title == ae_title)) if ae_title else None
    )
    if station is None:
        errors["station_ae"] = "Unknown station."
    elif not station.is_active:
        errors["station_ae"] = f"Station {station.ae_title} is out of service."
    elif station.modality != order.modality:
        errors["station_ae"] = f"Station {station.ae_title} is not a {order.modality_ref.name} scanner."
    else:
        return station
    return None


def check_booking(value: Any, name: str, order: ImagingOrder, errors: Errors) -> str | None:
    """The AE title to book the order on: None keeps the booked station, "" clears it."""
    if value is None:
        return order.scheduled_station_ae
    if value == "":
        return None
    station = check_station(value, order, errors)
    return station.ae_title if station else order.scheduled_station_ae


def check_moment(value: Any, name: str, errors: Errors) -> datetime | None:
    """A date and time with its time zone (required: it is what scheduling is about)."""
    if not isinstance(value, datetime):
        errors[name] = "A date and time is required to schedule."
    elif value.tzinfo is None:
        errors[name] = "The date and time needs a time zone."
    else:
        return value
    return None


PAST_BOOKING_GRACE = timedelta(minutes=15)  # a booking may start this long ago (the patient is here)


def check_booking_time(when: datetime, now: datetime, errors: Errors, name: str = "scheduled_date") -> None:
    """A booking starts from ``now`` on, or at most PAST_BOOKING_GRACE before it: an exam booked in
    the past would never reach a worklist."""
    if when < now - PAST_BOOKING_GRACE:
        minutes = int(PAST_BOOKING_GRACE.total_seconds() // 60)
        errors[name] = (f"This time is in the past ({when:%Y-%m-%d %H:%M %Z}). Choose a time from now on "
                        f"(at most {minutes} minutes ago).")


def check_count(value: Any, name: str, errors: Errors) -> int | None:
    """An optional whole number from 0 to MAX_IMAGES."""
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_IMAGES:
        errors[name] = f"A whole number from 0 to {MAX_IMAGES}."
        return None
    return value


def check_flag(value: Any, name: str, errors: Errors) -> bool:
    """A yes/no value: True, False or absent (False); a page's checkbox sends "y"."""
    if value in (None, "", False):
        return False
    if value is True or value in ("y", "on", "true"):
        return True
    errors[name] = "Must be true or false."
    return False


def check_record_id(value: Any, name: str, errors: Errors) -> int | None:
    """The id of a record (a whole number from 1), or None when absent."""
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        errors[name] = "Must be the id of a record."
        return None
    return value


def check_version(order: ImagingOrder, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != order.version:
        raise StaleVersion(
            f"Order {order.accession_number} was changed by someone else "
            f"(you had version {expected_version}, it is now {order.version}).",
            current_version=order.version,
        )
