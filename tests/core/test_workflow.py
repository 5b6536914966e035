"""Every (from status, to status, role) combination against the transition table."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.transitions import EXPECTED_TRANSITIONS as EXPECTED
from webapp.auth.models import User
from webapp.errors import PermissionDenied, TransitionNotAllowed
from webapp.extensions import db
from webapp.imaging import services, workflow
from webapp.imaging.actions import ACTIONS
from webapp.imaging.models import STATUSES, OrderEvent
from webapp.imaging.queries import get_order

ROLES = ["doctor", "scheduler", "technician", "radiologist", "admin", "display"]

STEP_ARGS = {
    # A reason: the STAT target (issue 25) and unbooking (scheduled -> ordered) take one.
    "scheduled": {"scheduled_date": datetime.now(UTC) + timedelta(days=1), "reason": "Next free day"},
    "ordered": {"reason": "The patient is in hospital elsewhere"},
    "reported": {"findings": "No consolidation.", "impression": "Normal chest."},
    "cancelled": {"reason": "Duplicate order"},
}


def test_table_matches_the_seed():
    table = {(t.from_status, t.to_status): set(t.roles) for t in workflow.TRANSITIONS}
    assert table == EXPECTED


def _offered_targets(role: str, status: str) -> set[str]:
    """The statuses the actions offered to ``role`` (buttons, the API's allowed_actions) lead to."""
    return {ACTIONS[name].target(status) for name in workflow.allowed_actions(role, status) if ACTIONS[name].transitions}


@pytest.mark.sqlite_only
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("from_status", STATUSES)
def test_every_transition_for_every_role(app, make_order, make_user, from_status, role):
    order = make_order(from_status)
    user = make_user(role)
    with app.app_context():
        for to_status in STATUSES:
            allowed = role in EXPECTED.get((from_status, to_status), set())
            assert (to_status in _offered_targets(role, from_status)) is allowed
            savepoint = db.session.begin_nested()
            current = get_order(order.id)
            events_before = db.session.query(OrderEvent).filter_by(order_id=order.id).count()
            if allowed:
                services.change_status(db.session.get(User, user.id), current, to_status, **STEP_ARGS.get(to_status, {}))
                assert current.status == to_status
                assert current.version == order.version + 1
                events = db.session.query(OrderEvent).filter_by(order_id=order.id).order_by(OrderEvent.id).all()
                assert len(events) == events_before + 1
                assert (events[-1].from_status, events[-1].to_status, events[-1].actor_role) == (
                    from_status, to_status, role)
            else:
                expected_error = PermissionDenied if (from_status, to_status) in EXPECTED else TransitionNotAllowed
                with pytest.raises(expected_error):
                    services.change_status(
                        db.session.get(User, user.id), current, to_status, **STEP_ARGS.get(to_status, {})
                    )
                assert db.session.query(OrderEvent).filter_by(order_id=order.id).count() == events_before
            savepoint.rollback()
        db.session.rollback()


@pytest.mark.sqlite_only
def test_allowed_actions_answer_what_the_buttons_show():
    assert workflow.allowed_actions("scheduler", "ordered") == ["schedule", "note", "arrive"]
    assert workflow.allowed_actions("doctor", "ordered") == ["cancel", "edit", "note"]
    assert workflow.allowed_actions("technician", "scheduled") == ["start", "note", "arrive"]
    assert workflow.allowed_actions("radiologist", "completed") == ["report", "note"]
    assert workflow.allowed_actions("doctor", "reported") == ["note"]
    assert workflow.allowed_actions("display", "ordered") == []
