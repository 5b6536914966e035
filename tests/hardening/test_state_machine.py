"""Property-based: random sequences of API calls by random roles keep the order invariants.

A hypothesis RuleBasedStateMachine creates orders, changes their status (PATCH), cancels them
(DELETE), edits them (PUT) and sends stale If-Match headers, each time as a random role, and
checks after every step:

* only the transitions of the expected table below succeed, for the roles it names
  (tests/transitions.py, written out on purpose independently of webapp.imaging.workflow);
* accession and order numbers are unique and consecutive (1..N, the same N in both);
* every change has exactly one event row (an order at version v has v events);
* the version only ever goes up, by one per change, and a refused call changes nothing.

At the end the audit hash chain must verify.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, multiple, rule, run_state_machine_as_test
from sqlalchemy import func, select

from tests.transitions import EXPECTED_TRANSITIONS as EXPECTED
from tests.transitions import OPEN_STATUSES as OPEN
from webapp.audit.chain import verify_chain
from webapp.extensions import db
from webapp.imaging.models import ImagingOrder, OrderEvent

pytestmark = pytest.mark.sqlite_only

ROLES = ("doctor", "scheduler", "technician", "radiologist", "admin", "display")
STATUSES = ("ordered", "scheduled", "in_progress", "completed", "reported", "cancelled")
EDITORS, EDITABLE = {"doctor", "admin"}, ("ordered", "scheduled")
NUMBER = re.compile(r"^(ACC|ORD)-(\d{4})-(\d{5,})$")


def _fields_for(target: str, step: int) -> dict:
    when = datetime.now(UTC) + timedelta(days=1, minutes=step)
    return {
        "ordered": {"reason": f"Booked in error {step}."},  # unbooking takes a reason
        "scheduled": {"scheduled_date": when.isoformat(), "reason": "Patient asked for tomorrow."},  # STAT past 4 h
        "completed": {"number_of_images": step % 50},
        "reported": {"findings": f"Findings {step}.", "impression": "Normal."},
        "cancelled": {"reason": f"Reason {step}."},
    }.get(target, {})


class OrderLifecycle(RuleBasedStateMachine):
    orders = Bundle("orders")

    def __init__(self, app, tokens, visit):
        super().__init__()
        self.app, self.tokens, self.visit = app, tokens, visit
        self.client = app.test_client()
        self.model: dict[str, dict] = {}  # order id -> {"status", "version"}
        self.step = 0

    # ------------------------------------------------------------------ calls

    def call(self, role, method, path, body=None, headers=None):
        self.step += 1
        response = self.client.open(path, method=method, json=body, headers=self.tokens[role] | (headers or {}))
        assert response.status_code < 500, (method, path, role, response.status_code, response.get_data(as_text=True))
        return response

    def check_change(self, order_id, response, expected_status, *, changes: bool, new_status=None):
        known = self.model[order_id]
        assert response.status_code == expected_status, (
            f"{response.status_code} != {expected_status} for {known} -> {new_status}: {response.get_json()}")
        if expected_status == 200 and changes:
            body = response.get_json()
            assert body["version"] == known["version"] + 1, (body["version"], known)
            assert body["status"] == new_status
            assert response.headers["ETag"].strip('W/"') == str(body["version"])
            known.update(status=new_status, version=body["version"])

    # ------------------------------------------------------------------ rules

    @rule(target=orders, role=st.sampled_from(ROLES))
    def create_order(self, role):
        body = {"patient_id": str(self.visit.patient_id), "visit_id": str(self.visit.id), "modality": "XRAY",
                "body_part": "CHEST", "procedure_code": "71046", "clinical_indication": "Cough"}
        response = self.call(role, "POST", "/api/v1/imaging/orders", body)
        if role != "doctor":
            assert response.status_code == 403, response.status_code
            return multiple()
        assert response.status_code == 201, response.get_json()
        order = response.get_json()
        assert (order["status"], order["version"]) == ("ordered", 1)
        self.model[order["id"]] = {"status": "ordered", "version": 1}
        return order["id"]

    @rule(order_id=orders, role=st.sampled_from(ROLES), to_status=st.sampled_from(STATUSES[1:]))
    def change_status(self, order_id, role, to_status):
        self.patch_status(order_id, role, to_status)

    @rule(order_id=orders, data=st.data())
    def advance(self, order_id, data):
        """A step the table has for this status, by its role half of the time (reaches the late statuses)."""
        options = sorted((to, sorted(roles)) for (frm, to), roles in EXPECTED.items()
                         if frm == self.model[order_id]["status"])
        if not options:
            return
        to_status, roles = data.draw(st.sampled_from(options))
        role = data.draw(st.one_of(st.sampled_from(roles), st.sampled_from(ROLES)))
        self.patch_status(order_id, role, to_status)

    def patch_status(self, order_id, role, to_status):
        current = self.model[order_id]["status"]
        body = {"status": to_status} | _fields_for(to_status, self.step)
        response = self.call(role, "PATCH", f"/api/v1/imaging/orders/{order_id}/status", body)
        if role == "display":
            expected = 403
        elif (current, to_status) not in EXPECTED:
            expected = 409
        else:
            expected = 200 if role in EXPECTED[(current, to_status)] else 403
        self.check_change(order_id, response, expected, changes=True, new_status=to_status)

    @rule(order_id=orders, role=st.sampled_from(ROLES))
    def cancel_with_delete(self, order_id, role):
        current = self.model[order_id]["status"]
        response = self.call(role, "DELETE", f"/api/v1/imaging/orders/{order_id}", {"reason": "No longer needed."})
        if role == "display":
            expected = 403
        elif current not in OPEN:
            expected = 409
        else:
            expected = 200 if role in EXPECTED[(current, "cancelled")] else 403
        self.check_change(order_id, response, expected, changes=True, new_status="cancelled")

    @rule(order_id=orders, role=st.sampled_from(ROLES), priority=st.sampled_from(("routine", "urgent", "stat")))
    def edit(self, order_id, role, priority):
        known = self.model[order_id]
        response = self.call(role, "PUT", f"/api/v1/imaging/orders/{order_id}", {"priority": priority},
                             headers={"If-Match": f'"{known["version"]}"'})
        if role not in EDITORS:
            expected = 403
        elif known["status"] not in EDITABLE:
            expected = 409
        else:
            expected = 200
        if expected == 200:
            changed = known.setdefault("priority", "routine") != priority
            assert response.status_code == 200, response.get_json()
            assert response.get_json()["version"] == known["version"] + (1 if changed else 0)
            known.update(version=response.get_json()["version"], priority=priority)
        else:
            self.check_change(order_id, response, expected, changes=False)

    @rule(order_id=orders, role=st.sampled_from(("scheduler", "technician", "doctor", "admin")))
    def stale_if_match_changes_nothing(self, order_id, role):
        known = self.model[order_id]
        response = self.call(role, "PATCH", f"/api/v1/imaging/orders/{order_id}/status",
                             {"status": "cancelled", "reason": "Stale."},
                             headers={"If-Match": f'"{known["version"] - 1}"'})
        self.check_change(order_id, response, 412, changes=False)

    # ------------------------------------------------------------------ invariants

    @invariant()
    def database_matches_the_model(self):
        with self.app.app_context():
            rows = db.session.execute(select(ImagingOrder.id, ImagingOrder.status, ImagingOrder.version,
                                             ImagingOrder.accession_number, ImagingOrder.order_number)).all()
            events = dict(db.session.execute(
                select(OrderEvent.order_id, func.count()).group_by(OrderEvent.order_id)).all())
            versions = db.session.execute(
                select(OrderEvent.order_id, OrderEvent.order_version).order_by(OrderEvent.id)).all()
            db.session.remove()
        by_id = {str(row.id): row for row in rows}
        for order_id, known in self.model.items():
            row = by_id[order_id]
            assert (row.status, row.version) == (known["status"], known["version"]), (row, known)
            # Every change wrote exactly one event: versions 1..v, one event each.
            assert events[row.id] == row.version, (order_id, events[row.id], row.version)
        seen: dict = {}
        for order_id, version in versions:  # event versions rise by one per order, in log order
            assert version == seen.get(order_id, 0) + 1, (order_id, version, seen.get(order_id))
            seen[order_id] = version
        # Numbers: unique, consecutive from 1 per year, accession and order number alike.
        by_year: dict[str, list[int]] = {}
        for row in rows:
            acc, ord_ = NUMBER.match(row.accession_number), NUMBER.match(row.order_number)
            assert acc and ord_ and acc.group(2, 3) == ord_.group(2, 3), (row.accession_number, row.order_number)
            by_year.setdefault(acc.group(2), []).append(int(acc.group(3)))
        for numbers in by_year.values():
            assert sorted(numbers) == list(range(1, len(numbers) + 1)), sorted(numbers)


def test_random_api_sequences_keep_the_invariants(app, make_user, make_visit):
    tokens = {}
    client = app.test_client()
    for role in ROLES:
        user = make_user(role, password="password-123")
        answer = client.post("/api/v1/auth/token", json={"username": user.username, "password": "password-123"})
        tokens[role] = {"Authorization": f"Bearer {answer.get_json()['access_token']}"}
    visit = make_visit()

    run_state_machine_as_test(
        lambda: OrderLifecycle(app, tokens, visit),
        settings=settings(max_examples=25, stateful_step_count=30, deadline=None, derandomize=False,
                          suppress_health_check=list(HealthCheck)),
    )
    with app.app_context():
        result = verify_chain(db.session)
        assert result.ok, result.problem
        assert result.checked > 0
