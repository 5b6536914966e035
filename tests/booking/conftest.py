"""Fixtures of the booking tests (issue 25): the department's-day fixtures (CSRF off, API
tokens, ``book``) and a clinic time for a day after today."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.api.conftest import bearer, order_payload  # noqa: F401 (fixtures)
from tests.dayone.conftest import app_config, book  # noqa: F401 (fixtures)
from tests.dicom.conftest import dicom_server  # noqa: F401 (fixture: the DICOM service on a free port)


@pytest.fixture
def at(app):
    """at(days, hour, minute=0) -> an aware clinic time ``days`` after today."""
    from webapp.db_types import clinic_today, clinic_zone

    def factory(days: int, hour: int, minute: int = 0) -> datetime:
        with app.app_context():
            day = clinic_today() + timedelta(days=days)
            return datetime(day.year, day.month, day.day, hour, minute, tzinfo=clinic_zone())

    return factory
