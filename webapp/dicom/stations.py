"""Stations: the department's scanners, known to the worklist by their DICOM AE titles."""

from __future__ import annotations

from sqlalchemy import select

from webapp.errors import NotFound, ValidationFailed
from webapp.extensions import db
from webapp.imaging.models import ImagingModality, Station


def clean_ae_title(value: object) -> str:
    """An AE title as stored: 1 to 16 printable ASCII characters, no backslash, upper case."""
    title = value.strip().upper() if isinstance(value, str) else ""
    if not title or len(title) > 16 or any(not (" " <= c <= "~") or c == "\\" for c in title):
        raise ValidationFailed({"ae_title": "An AE title is 1 to 16 printable ASCII characters, no backslash."})
    return title


def add_station(ae_title: object, modality: object, room: object = "") -> Station:
    """Register a scanner (flushes). The modality is one of our codes (XRAY, CT, ...)."""
    title = clean_ae_title(ae_title)
    errors: dict[str, str] = {}
    modality_row = db.session.get(ImagingModality, modality.strip().upper()) if isinstance(modality, str) else None
    if modality_row is None:
        errors["modality"] = "Unknown modality."
    room_text = room.strip() if isinstance(room, str) else ""
    if len(room_text) > 64:
        errors["room"] = "At most 64 characters."
    if db.session.scalar(select(Station).where(Station.ae_title == title)):
        errors["ae_title"] = f"A station {title} exists already."
    if errors:
        raise ValidationFailed(errors)
    station = Station(ae_title=title, modality=modality_row.code, room=room_text, is_active=True)
    db.session.add(station)
    db.session.flush()
    return station


def get_station(ae_title: object) -> Station:
    title = ae_title.strip().upper() if isinstance(ae_title, str) else ""
    station = db.session.scalar(select(Station).where(Station.ae_title == title))
    if station is None:
        raise NotFound(f"No station {ae_title}.")
    return station


def set_station_active(ae_title: object, active: bool) -> Station:
    """Take a station out of service (no new bookings) or back in; booked orders keep it."""
    station = get_station(ae_title)
    station.is_active = active
    db.session.flush()
    return station
