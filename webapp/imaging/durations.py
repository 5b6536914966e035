"""How long an exam takes: each procedure's typical duration (the catalogue's
``duration_minutes``), else the default of its modality. A booking occupies
[start, start + duration) on its scanner (webapp.imaging.schedule, webapp.imaging.booking).

The defaults per modality (docs/scheduling.md#durations) are typical room times, patient in to
patient out, of a general hospital department: plain X-ray 10 minutes, ultrasound 20,
mammography 20, fluoroscopy 30, CT 20, MRI 45. The seed gives each new procedure its
modality's default and never overwrites a duration an administrator set (/admin/durations).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from webapp.errors import NotFound, ValidationFailed
from webapp.extensions import db
from webapp.imaging.models import ImagingOrder, Procedure

MODALITY_MINUTES = {"XRAY": 10, "US": 20, "MG": 20, "FL": 30, "CT": 20, "MRI": 45}
DEFAULT_MINUTES = 15  # a modality not listed above
MIN_MINUTES, MAX_MINUTES = 5, 480


def modality_minutes(modality: str) -> int:
    return MODALITY_MINUTES.get(modality, DEFAULT_MINUTES)


class Durations:
    """The catalogue's durations, read once (a board shows many bookings)."""

    def __init__(self) -> None:
        self._by_code: dict[str, int] | None = None

    def minutes(self, order: ImagingOrder) -> int:
        if self._by_code is None:
            self._by_code = {code: minutes for code, minutes in db.session.execute(
                select(Procedure.code, Procedure.duration_minutes))}
        found = self._by_code.get(order.procedure_code) if order.procedure_code else None
        return found or modality_minutes(order.modality)

    def length(self, order: ImagingOrder) -> timedelta:
        return timedelta(minutes=self.minutes(order))


def exam_length(order: ImagingOrder) -> timedelta:
    """One order's duration (its procedure's, else its modality's default)."""
    procedure = db.session.get(Procedure, order.procedure_code) if order.procedure_code else None
    minutes = procedure.duration_minutes if procedure and procedure.duration_minutes else modality_minutes(order.modality)
    return timedelta(minutes=minutes)


def catalogue() -> list[Procedure]:
    """Every procedure with its duration, by modality then name (the admin page)."""
    return list(db.session.scalars(select(Procedure).order_by(Procedure.modality, Procedure.name)))


def set_duration(code: str, value) -> Procedure:
    """An administrator sets a procedure's duration (whole minutes, MIN_MINUTES to MAX_MINUTES)."""
    procedure = db.session.get(Procedure, code)
    if procedure is None:
        raise NotFound(f"No procedure {code!r}.")
    try:
        minutes = int(str(value).strip())
    except ValueError:
        minutes = None
    if minutes is None or not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise ValidationFailed({f"duration-{code}": f"Whole minutes from {MIN_MINUTES} to {MAX_MINUTES}."})
    procedure.duration_minutes = minutes
    db.session.flush()
    return procedure
