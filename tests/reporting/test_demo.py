"""The demo data has drafts, addenda, one open and one acknowledged critical result, and history
for the metrics page."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from webapp.extensions import db, writing
from webapp.reporting.models import CriticalResult, ReportAddendum, ReportDraft


@pytest.mark.sqlite_only
def test_demo_data_has_reporting(app, client, auth):
    from webapp.cli import load_demo_data

    with app.app_context(), writing():
        load_demo_data()
        db.session.commit()
        count = lambda model: db.session.scalar(select(func.count()).select_from(model))  # noqa: E731
        assert count(ReportDraft) == 2 and count(ReportAddendum) == 3
        results = db.session.scalars(select(CriticalResult).order_by(CriticalResult.raised_at)).all()
        assert [r.acknowledged_at is None for r in results] == [False, True]
        assert (results[0].acknowledged_at - results[0].raised_at).total_seconds() == 7 * 60
    auth.login("admin")
    page = client.get("/dashboard/metrics").get_data(as_text=True)
    section = page.split('id="metric-critical_to_acknowledged"', 1)[1].split("</section>", 1)[0]
    assert 'class="metric-p50">7 min' in section
    assert 'id="overdue-critical"' in client.get("/dashboard").get_data(as_text=True)


@pytest.mark.sqlite_only
@pytest.mark.parametrize("hhmm", ["00:30", "02:59"])
def test_the_demo_data_loads_in_the_first_hours_after_midnight(app, hhmm):
    """The safety demo records its screening hours before now: at 00:30 that is yesterday, and a
    pregnancy asked about "today" (the day of now) was a date after the record's own day, refused
    (`flask seed --demo`, and with it every browser test, failed from midnight to 03:00)."""
    import time_machine

    from tests.conftest import _clinic_instant
    from webapp.cli import load_demo_data
    from webapp.safety.models import PatientSafety

    with time_machine.travel(_clinic_instant(hhmm, app.config.get("APP_TIMEZONE") or "UTC"), tick=True):
        with app.app_context(), writing():
            load_demo_data()
            db.session.commit()
            assert db.session.scalar(select(func.count()).select_from(PatientSafety)) >= 9
