"""Turnaround figures on a known data set: medians and 90th percentiles per priority and modality."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from webapp.extensions import db, writing
from webapp.imaging import queries
from webapp.reporting.metrics import percentile, turnaround

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def test_percentile_interpolates_between_ranks():
    assert percentile([10, 20, 30, 40, 50], 0.5) == 30
    assert percentile([50, 10, 40, 20, 30], 0.9) == pytest.approx(46)
    assert percentile([7], 0.9) == 7 and percentile([], 0.5) is None


def _set_dates(app, order, **offsets_minutes):
    with app.app_context(), writing():
        current = queries.get_order(order.id)
        for name, minutes in offsets_minutes.items():
            setattr(current, name, T0 + timedelta(minutes=minutes))
        db.session.commit()


@pytest.mark.sqlite_only
def test_turnaround_on_a_known_data_set(app, make_order, client, auth):
    # STAT CT reported 30, 50 and 90 minutes after the scan; routine X-ray 600 minutes after.
    for report_after in (30, 50, 90):
        order = make_order("reported", priority="stat", modality="CT", body_part="HEAD", procedure_code="70450")
        _set_dates(app, order, ordered_date=0, scheduled_date=10, performed_date=20, completed_date=40,
                   reported_date=40 + report_after)
    routine = make_order("reported")
    _set_dates(app, routine, ordered_date=0, scheduled_date=60, performed_date=70, completed_date=80,
               reported_date=680)
    outside = make_order("reported")  # ordered the day before: not in the period
    _set_dates(app, outside, ordered_date=-24 * 60, completed_date=0, reported_date=10_000)

    with app.app_context():
        figures = turnaround(T0 - timedelta(hours=1), T0 + timedelta(days=1))["intervals"]
    report = figures["completed_to_reported"]
    assert report["all"]["count"] == 4
    assert report["by_priority"]["stat"] == {"count": 3, "p50_minutes": 50.0, "p90_minutes": 82.0,
                                             "target_minutes": 60, "met_share": 0.667}
    routine = report["by_priority"]["routine"]
    assert routine["p50_minutes"] == 600.0 and "target_minutes" not in routine
    assert report["by_modality"]["CT"]["p90_minutes"] == 82.0 and report["by_modality"]["XRAY"]["count"] == 1
    groups = {(r["modality"], r["priority"]) for r in report["by_modality_and_priority"]}
    assert groups == {("CT", "stat"), ("XRAY", "routine")}
    assert figures["started_to_completed"]["by_priority"]["stat"]["p50_minutes"] == 20.0
    assert figures["scheduled_to_started"]["all"]["p50_minutes"] == 10.0
    assert figures["ordered_to_reported"]["by_priority"]["stat"]["p90_minutes"] == 122.0

    # The page shows the same numbers to an administrator.
    auth.login("admin")
    page = client.get("/dashboard/metrics?from=2026-03-02&to=2026-03-02")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'id="metric-completed_to_reported"' in text and "82 min" in text and "67 % of ≤ 60 min" in text
    assert client.get("/dashboard/metrics?from=2026-03-05&to=2026-03-01").status_code == 422
    auth.login("technician")
    assert client.get("/dashboard/metrics").status_code == 403


@pytest.mark.sqlite_only
def test_early_starts_are_on_time_and_open_critical_results_count(app, make_order):
    """Issue 26, item 17: a scan started before its booked time made "scheduled → started"
    negative (median −14.8 h); a critical result open for 46 minutes left "100 % within 15 min"."""
    from webapp.reporting.models import CriticalResult

    early = make_order("reported")
    _set_dates(app, early, ordered_date=0, scheduled_date=24 * 60, performed_date=30)  # booked tomorrow, done today
    late = make_order("reported")
    _set_dates(app, late, ordered_date=0, scheduled_date=60, performed_date=80)
    acknowledged, still_open, young = make_order("reported"), make_order("reported"), make_order("reported")
    for order in (acknowledged, still_open, young):  # ordered before the period: only their critical results count
        _set_dates(app, order, ordered_date=-3 * 24 * 60)
    with app.app_context(), writing():
        now = datetime.now(UTC)
        for order, raised, acked in ((acknowledged, now - timedelta(minutes=50), now - timedelta(minutes=45)),
                                     (still_open, now - timedelta(minutes=46), None),
                                     (young, now - timedelta(minutes=2), None)):
            db.session.add(CriticalResult(order_id=order.id, doctor_id=order.ordered_by, note="Pneumothorax",
                                          raised_by_label="Dr R", raised_at=raised, acknowledged_at=acked,
                                          acknowledged_by_label="Dr D" if acked else None))
        db.session.commit()
        figures = turnaround(T0 - timedelta(hours=1), now + timedelta(days=1))["intervals"]
    started = figures["scheduled_to_started"]["all"]
    assert started["count"] == 2 and started["p50_minutes"] == 10.0  # (0 + 20) / 2: early counts as 0
    critical = figures["critical_to_acknowledged"]["all"]
    # One acknowledged within 15 minutes, one open for 46 (missed), one open for 2 (undecided).
    assert critical["count"] == 1 and critical["open"] == 2
    assert critical["met_share"] == 0.5
