"""Turnaround times: how long each step from the order to the doctor took, per priority and
modality, over a period (orders placed in it; critical results raised in it).

Intervals, in minutes:

* ordered → scheduled: the order placed → the first booking (its ``schedule`` event);
* scheduled → started: how late the scan started against its booked time (a scan started early
  is on time: 0 minutes; before, an exam booked for tomorrow and done today made the median
  −14.8 hours);
* started → completed, completed → reported, ordered → reported: the order's own dates;
* critical → acknowledged: a critical result raised → acknowledged. Results still open count
  too: ``open`` says how many, and one open for longer than the target has missed it (the share
  that met the target is over the acknowledged ones and the open ones past the target; the
  percentiles are over the acknowledged ones).

Each group gets the count, the median (p50) and the 90th percentile (p90, linear interpolation
between the closest ranks), and, where a target applies (STAT reported within 60 minutes of the
scan, urgent within 12 hours; critical results acknowledged within CRITICAL_ACK_MINUTES), the
share that met it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, select

from webapp.db_types import utcnow
from webapp.extensions import db
from webapp.imaging.models import PRIORITIES, ImagingOrder, OrderEvent
from webapp.reporting.critical import ack_minutes
from webapp.reporting.models import CriticalResult

INTERVALS = (
    ("ordered_to_scheduled", "Ordered → scheduled"),
    ("scheduled_to_started", "Scheduled → started"),
    ("started_to_completed", "Started → completed"),
    ("completed_to_reported", "Completed → reported"),
    ("ordered_to_reported", "Ordered → reported"),
    ("critical_to_acknowledged", "Critical → acknowledged"),
)
# Report turnaround targets (completed → reported), in minutes.
REPORT_TARGETS = {"stat": 60, "urgent": 12 * 60}


def percentile(values: list[float], share: float) -> float | None:
    """The ``share`` (0..1) percentile with linear interpolation between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * share
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _minutes(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds() / 60


def summary(values: list[float], target: float | None = None, open_ages: list[float] | None = None) -> dict:
    """Count, median and p90 of ``values``; with a target, the share that met it. ``open_ages``
    (critical results not acknowledged yet, minutes since raised) count as missed once past it."""
    p50, p90 = percentile(values, 0.5), percentile(values, 0.9)
    out = {"count": len(values), "p50_minutes": _round(p50), "p90_minutes": _round(p90)}
    if open_ages is not None:
        out["open"] = len(open_ages)
    if target is not None:
        out["target_minutes"] = target
        decided = len(values) + sum(1 for age in open_ages or () if age > target)
        out["met_share"] = round(sum(1 for v in values if v <= target) / decided, 3) if decided else None
    return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _order_rows(start: datetime, end: datetime):
    first_booking = (
        select(OrderEvent.order_id, func.min(OrderEvent.created_at).label("booked_at"))
        .where(OrderEvent.event_type == "schedule").group_by(OrderEvent.order_id).subquery()
    )
    return db.session.execute(
        select(ImagingOrder.modality, ImagingOrder.priority, ImagingOrder.ordered_date, first_booking.c.booked_at,
               ImagingOrder.scheduled_date, ImagingOrder.performed_date, ImagingOrder.completed_date,
               ImagingOrder.reported_date)
        .outerjoin(first_booking, first_booking.c.order_id == ImagingOrder.id)
        .where(ImagingOrder.ordered_date >= start, ImagingOrder.ordered_date < end)
    ).all()


def _critical_rows(start: datetime, end: datetime):
    return db.session.execute(
        select(ImagingOrder.modality, ImagingOrder.priority, CriticalResult.raised_at, CriticalResult.acknowledged_at)
        .join(ImagingOrder, ImagingOrder.id == CriticalResult.order_id)
        .where(CriticalResult.raised_at >= start, CriticalResult.raised_at < end)
    ).all()


OPEN = "critical_open"  # the samples of critical results not acknowledged yet: their age


def _samples(start: datetime, end: datetime) -> list[tuple[str, str, str, float]]:
    """(interval, modality, priority, minutes) for every interval that has both ends, and
    (OPEN, modality, priority, age) for every critical result still open."""
    samples, now = [], utcnow()
    for row in _order_rows(start, end):
        pairs = {
            "ordered_to_scheduled": (row.ordered_date, row.booked_at),
            "scheduled_to_started": (row.scheduled_date, row.performed_date),
            "started_to_completed": (row.performed_date, row.completed_date),
            "completed_to_reported": (row.completed_date, row.reported_date),
            "ordered_to_reported": (row.ordered_date, row.reported_date),
        }
        for name, (a, b) in pairs.items():
            minutes = _minutes(a, b)
            if minutes is not None:
                if name == "scheduled_to_started":
                    minutes = max(0.0, minutes)  # early is on time
                samples.append((name, row.modality, row.priority, minutes))
    for row in _critical_rows(start, end):
        if row.acknowledged_at is None:
            samples.append((OPEN, row.modality, row.priority, _minutes(row.raised_at, now)))
        else:
            samples.append(("critical_to_acknowledged", row.modality, row.priority,
                            _minutes(row.raised_at, row.acknowledged_at)))
    return samples


def _target(interval: str, priority: str | None) -> float | None:
    if interval == "critical_to_acknowledged":
        return ack_minutes()
    if interval == "completed_to_reported" and priority:
        return REPORT_TARGETS.get(priority)
    return None


def _group_summary(groups: dict, interval: str, group: tuple, priority: str | None, with_target: bool) -> dict:
    open_ages = groups.get((OPEN, *group), []) if interval == "critical_to_acknowledged" else None
    return summary(groups.get((interval, *group), []), _target(interval, priority) if with_target else None, open_ages)


def turnaround(start: datetime, end: datetime) -> dict:
    """The figures of the API and the metrics page, for orders placed in [start, end)."""
    groups: dict[tuple, list[float]] = defaultdict(list)
    for interval, modality, priority, minutes in _samples(start, end):
        for key in ((interval,), (interval, "priority", priority), (interval, "modality", modality),
                    (interval, "both", modality, priority)):
            groups[key].append(minutes)
            if interval == OPEN:  # an open critical result makes its groups exist too
                groups.setdefault(("critical_to_acknowledged", *key[1:]), [])
    figures = {}
    for interval, label in INTERVALS:
        def of(*group, priority=None, with_target=True, interval=interval):
            return _group_summary(groups, interval, group, priority, with_target)

        modalities = sorted({key[2] for key in groups if key[0] == interval and key[1:2] == ("modality",)})
        figures[interval] = {
            "label": label,
            "all": of(),
            "by_priority": {p: of("priority", p, priority=p) for p in PRIORITIES if (interval, "priority", p) in groups},
            "by_modality": {m: of("modality", m, with_target=False) for m in modalities},
            "by_modality_and_priority": [
                {"modality": key[2], "priority": key[3]} | of(*key[1:], priority=key[3])
                for key in sorted(groups) if key[0] == interval and key[1:2] == ("both",)
            ],
        }
    return {"from": start.isoformat(), "to": end.isoformat(), "intervals": figures}
