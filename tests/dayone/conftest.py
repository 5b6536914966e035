"""Fixtures of the department's-day tests (issue 14, items 1, 5, 6, 7): CSRF off for plain form
posts, scanners, and orders booked on them."""

from __future__ import annotations

import pytest

from tests.api.conftest import bearer, order_payload  # noqa: F401 (fixtures: API tokens, order bodies)
from webapp.extensions import db, writing


@pytest.fixture
def app_config(database_url):
    return {"WTF_CSRF_ENABLED": False}


@pytest.fixture
def book(app, make_order):
    """book(order, when, station_ae=None, **values) -> the order booked through the service layer
    (``values``: the schedule action's others, e.g. ``reason`` for a late STAT, ``allow_overlap``)."""
    from webapp.auth.models import User
    from webapp.imaging import services
    from webapp.imaging.models import ImagingOrder

    def factory(order, when, station_ae=None, **values):
        scheduler = make_order.person("scheduler")
        with app.app_context(), writing():
            current = db.session.get(ImagingOrder, order.id)
            services.schedule_order(db.session.get(User, scheduler.id), current, when, station_ae=station_ae, **values)
            db.session.commit()
            return current.accession_number

    return factory
