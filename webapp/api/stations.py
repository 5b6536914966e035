"""Scanners' downtime: POST /api/v1/stations/{ae}/downtime (schedulers, administrators; CONTRACT
"Booking"). Bookings into a downtime are refused (webapp.imaging.booking); the answer lists the
bookings the new downtime covers, to rebook, and each of them gets a note on its timeline.
POST /api/v1/stations/{ae}/downtime/{id}/end ends one now, or withdraws one not yet begun."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from webapp.api.common import json_response, problems, resource_blueprint
from webapp.api.schemas import InputModel, Moment, limited
from webapp.api.security import api_user, requires
from webapp.auth.roles import Role
from webapp.extensions import commit_keeping_state
from webapp.imaging import downtime

api = resource_blueprint("stations", __name__, "/api/v1/stations", "Stations")
DOWNTIME_ROLES = {Role.SCHEDULER, Role.ADMIN}
EXAMPLE = {"start": "2030-12-02T12:00:00+01:00", "end": "2030-12-02T14:00:00+01:00",
           "reason": "Tube replacement (service engineer)"}


class StationPath(BaseModel):
    ae: Annotated[str, StringConstraints(min_length=1, max_length=16)]


class DowntimeIn(InputModel):
    model_config = ConfigDict(extra="forbid", openapi_extra={"example": EXAMPLE})

    start: Moment
    end: Moment
    reason: limited("reason")


class ToRebook(BaseModel):
    id: uuid.UUID
    accession_number: str
    scheduled_date: datetime
    priority: str


class DowntimeOut(BaseModel):
    id: int
    station_ae: str
    start: datetime
    end: datetime
    reason: str
    created_at: datetime
    rebook: list[ToRebook] = Field(description="Bookings on the station that the downtime covers: rebook them.")


@api.post("/<string(maxlength=16):ae>/downtime", responses={201: DowntimeOut} | problems(404, 422))
@requires(DOWNTIME_ROLES)
def add_downtime(path: StationPath, body: DowntimeIn):
    """Record a scanner's downtime [start, end) with its reason: bookings into it are refused (409)."""
    down, covered = downtime.record(api_user(), path.ae, body.start, body.end, body.reason)
    out = DowntimeOut(
        id=down.id, station_ae=down.station_ae, start=down.starts_at, end=down.ends_at, reason=down.reason,
        created_at=down.created_at,
        rebook=[ToRebook(id=o.id, accession_number=o.accession_number, scheduled_date=o.scheduled_date,
                         priority=o.priority) for o in covered])
    commit_keeping_state()
    return json_response(out, 201)


class DowntimePath(StationPath):
    id: Annotated[int, Field(ge=1, le=2**63 - 1, description="The downtime's id (`id` in the answer that recorded it).")]


class DowntimeEnded(BaseModel):
    id: int
    station_ae: str
    start: datetime
    end: datetime
    reason: str
    outcome: Literal["ended", "withdrawn"] = Field(
        description="`ended`: it was under way and ends now (`end` is now); "
                    "`withdrawn`: it had not begun and blocks nothing.")
    ended_at: datetime
    stands: list[ToRebook] = Field(description="Bookings it covered from now on: their booking stands (each gets a note).")


@api.post("/<string(maxlength=16):ae>/downtime/<id:id>/end",
          responses={200: DowntimeEnded} | problems(404, 409))
@requires(DOWNTIME_ROLES)
def end_downtime(path: DowntimePath):
    """End a scanner's downtime now (back early), or withdraw one that has not begun; one already
    over answers 409."""
    down, kind, stands = downtime.end(api_user(), path.id, path.ae)
    out = DowntimeEnded(
        id=down.id, station_ae=down.station_ae, start=down.starts_at, end=down.ends_at, reason=down.reason,
        outcome=kind, ended_at=down.withdrawn_at,
        stands=[ToRebook(id=o.id, accession_number=o.accession_number, scheduled_date=o.scheduled_date,
                         priority=o.priority) for o in stands])
    commit_keeping_state()
    return json_response(out, 200)
