"""The department-at-peak harness's pieces, without a server: the verdicts its table gives, the
live-delay and lost-event accounting, the capacity figure, the scanners' query, the generator's
booked orders and the profile summary. (The load itself is `make bench-peak`.)"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bench import peak_report
from bench.generate import Generator, Person
from bench.peak_data import desk_counts
from bench.peak_dicom import worklist_query
from bench.peak_report import Phase, capacity_row, live_delays, phase, phase_rows

pytestmark = pytest.mark.sqlite_only
ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


ONE_EVENT = {1: 150.0}
ONE_STREAM = [{"host": "a", "opened": 90.0, "events": {"1": 150.05}}]


def load_result(page_ms: list[float], api_ms: list[float], *, errors=None, streams=None) -> dict:
    return {"started": 100.0, "finished": 200.0, "samples": {"page: order list": page_ms, "api: place order": api_ms},
            "errors": errors or {}, "streams": ONE_STREAM if streams is None else streams}


def by_name(rows):
    return {row.scenario.split(": ", 1)[1]: row for row in rows}


def test_a_missed_target_is_a_fail_row_and_a_met_one_passes():
    slow = phase("peak", load_result([20.0] * 90 + [400.0] * 10, [10.0] * 100), ONE_EVENT, {"gunicorn workers": 1.5})
    rows = by_name(phase_rows(slow))
    assert rows["pages p95"].result == "FAIL"
    assert "p95 400.0" in rows["pages p95"].measured
    assert rows["API p95"].result == "pass"
    assert rows["errors"].result == "pass"
    cpu = rows["CPU (cores busy)"]
    assert cpu.result == "info" and "gunicorn workers 1.50" in cpu.measured
    # 1.5 cores for 100 s over 200 requests: 750 ms of worker CPU each.
    assert "worker CPU ms per page/API request 750.00" in cpu.measured
    assert rows["page: order list"].result == "info"  # every request type is shown, as information
    assert not slow.within_targets() and slow.missed() == ["pages"]

    fast = phase("peak", load_result([20.0] * 100, [10.0] * 100), ONE_EVENT, {})
    assert fast.within_targets()
    assert {r.result for r in phase_rows(fast)} <= {"pass", "info"}
    # No event measured is no evidence: the live target fails rather than passing empty.
    assert "live delay" in phase("peak", load_result([20.0], [10.0]), {}, {}).missed()


def test_errors_fail_the_run_and_name_examples():
    p = phase("peak", load_result([20.0], [10.0], errors={"api: schedule": ["412: stale"]}), {}, {})
    row = by_name(phase_rows(p))["errors"]
    assert row.result == "FAIL" and "412: stale" in row.measured


def test_live_delay_is_from_the_event_row_to_each_stream_and_a_missing_event_is_lost():
    events = {1: 110.0, 2: 150.0, 3: 199.5}  # 3 falls in the last grace seconds: not expected
    streams = [
        {"host": "a", "opened": 90.0, "events": {"1": 110.1, "2": 150.3}},
        {"host": "b", "opened": 95.0, "events": {"1": 110.2}},  # lost event 2
        {"host": "b", "opened": 120.0, "events": {}},  # opened late: not checked
        {"host": "a", "opened": None, "events": {}, "error": "429"},  # never opened: an error
    ]
    live = live_delays(streams, events, 100.0, 200.0)
    assert live["events"] == 2 and live["streams"] == 2
    assert live["lost"] == 1 and live["lost_by_host"] == {"b": 1}
    assert sorted(round(d) for d in live["delays"]) == [100, 200, 300]
    p = phase("peak", load_result([1.0], [1.0], streams=streams), events, {})
    rows = by_name(phase_rows(p))
    assert rows["lost events"].result == "FAIL"
    assert rows["errors"].result == "FAIL" and "429" in rows["errors"].measured


def test_capacity_is_the_largest_step_within_every_target():
    steps = [
        {"desk": 60, "pages_p95": 90, "api_p95": 30, "live_p95": 100, "errors": 0, "streams": 83, "within": True},
        {"desk": 90, "pages_p95": 140, "api_p95": 60, "live_p95": 200, "errors": 0, "streams": 113, "within": True},
        {"desk": 120, "pages_p95": 260, "api_p95": 90, "live_p95": 300, "errors": 0, "streams": 143, "within": False},
    ]
    row = capacity_row(steps, tablets=20, walls=3)
    assert row.measured.startswith("90 staff, 20 tablets, 113 streams per 2 cores")
    assert capacity_row(steps[2:], 20, 3).result == "FAIL"


def test_desk_roles_add_up():
    for desk in (1, 60, 90, 161):
        counts = desk_counts(desk)
        assert sum(counts.values()) == desk and counts["doctor"] >= counts["scheduler"]
    assert desk_counts(60) == {"doctor": 30, "scheduler": 12, "radiologist": 12, "admin": 6}


def test_the_scanners_query_is_a_worklist_query_for_the_modality_and_day():
    from webapp.dicom.query import parse_query

    query = parse_query(worklist_query("MRI", "20260315"))
    assert query.modality_values == ["MR"]
    low, high = query.date_range
    assert low == high == datetime(2026, 3, 15).date()


def test_booked_orders_are_of_the_modality_scheduled_when_asked_with_a_continued_chain():
    people = {role: [Person(uuid.uuid4(), f"{role}-1", role.title(), role)]
              for role in ("doctor", "scheduler", "technician", "radiologist", "admin")}
    gen = Generator(orders=10, years=1, seed=3, now=datetime(2026, 6, 15, 12, tzinfo=UTC), zone=ZoneInfo("UTC"),
                    sqlite=False, procedures=[("74177", "CT Abdomen", "CT", "ABDOMEN", False),
                                              ("71046", "X-Ray Chest", "XRAY", "CHEST", False)],
                    body_parts={"ABDOMEN": False, "CHEST": False})
    gen.next_event_id, gen.prev_event_hash = 501, "ab" * 32
    planned = datetime(2026, 6, 15, 9, 30, tzinfo=UTC)
    events = []
    for _ in range(5):
        order, order_events = gen.order_rows(uuid.uuid4(), "ACC-2026-00001", "ORD-2026-00001", uuid.uuid4(), uuid.uuid4(),
                                       people["doctor"][0], None, "x", None, planned - timedelta(hours=5), people,
                                       status="scheduled", modality="CT", planned_for=planned)
        assert order[7] == "CT" and order[15] == "scheduled" and order[18] == planned
        events.extend(order_events)
    # The chain goes on from the head it was given: ids count up, each row names the one before.
    assert [e[0] for e in events] == list(range(501, 501 + len(events)))
    assert events[0][12] == "ab" * 32
    assert all(after[12] == before[13] for before, after in zip(events, events[1:], strict=False))
    assert gen.summary.by_status == {"scheduled": 5}


def test_profile_summary_counts_self_time_by_package_and_the_apps_functions(tmp_path):
    raw = tmp_path / "p.txt"
    raw.write_text(
        "run (gevent/hub.py:1);loop (gevent/hub.py:2) 6\n"
        "handle (gunicorn/x.py:1);order_list (/r/webapp/imaging/views.py:70);render (/v/jinja2/env.py:9) 3\n"
        "handle (gunicorn/x.py:1);order_list (/r/webapp/imaging/views.py:70);wait (/v/psycopg/waiting.py:3) 1\n")
    summary = peak_report.profile_summary([raw])
    assert summary["samples"] == 10
    assert dict(summary["self_by_package"]) == {"gevent hub (idle)": 60.0, "jinja2": 30.0, "psycopg": 10.0}
    assert summary["app_inclusive"] == [("order_list (webapp/imaging/views.py)", 40.0)]


def test_the_load_builds_one_user_class_per_role_with_its_count():
    # In a process of its own: importing Locust patches the standard library with gevent.
    code = ("import json; from bench.peak_load import user_classes; "
            "print(json.dumps({c.__name__: [c.fixed_count, c.role] for c in "
            "user_classes({'doctor': 3, 'scheduler': 1, 'radiologist': 1, 'admin': 0, 'tablet': 2, 'wall': 1})}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "DoctorUser": [3, "doctor"], "SchedulerUser": [1, "scheduler"], "RadiologistUser": [1, "radiologist"],
        "TabletUser": [2, "technician"], "WallUser": [1, "display"]}


def test_phase_is_a_plain_record():
    p = phase("x", load_result([1.0], [1.0]), {}, {})
    assert isinstance(p, Phase) and p.per_type["page: order list"]["n"] == 1
