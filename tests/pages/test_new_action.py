"""A new order action is one definition plus its step: added to the registry (here for the test
only), it is offered to its roles, has a page form built from its fields, runs through the one
service road (role, values, step, event) and reads on the timeline as its definition says."""

from __future__ import annotations

import pytest

from tests.pages.conftest import hx
from webapp.auth.roles import Role
from webapp.errors import PermissionDenied, ValidationFailed
from webapp.extensions import db
from webapp.imaging import actions, queries, services

pytestmark = pytest.mark.sqlite_only


def escalate(order, actor, values, moment):
    before, order.priority = order.priority, "stat"
    return {"priority": {"from": before, "to": "stat"}, "reason": values["reason"]}


def describe_escalation(event):
    return actions.TimelineEntry("", lines=(actions.TimelineLine(f"Why: {event.changes['reason']}", "clinical-text"),))


ESCALATE = actions.OrderAction(
    "escalate", "Escalate to stat", frozenset({str(Role.DOCTOR)}),
    statuses=frozenset({"ordered", "scheduled"}),
    fields=(actions.ActionField("reason", "text", "Why it cannot wait", required=True),),
    step=escalate, success_text="Order {acc} is now stat.", timeline_label="Escalated", describe=describe_escalation,
)


@pytest.fixture
def with_escalate(monkeypatch):
    monkeypatch.setitem(actions.ACTIONS, "escalate", ESCALATE)


def test_a_new_action_shows_runs_and_reads_on_the_timeline(app, client, auth, make_order, with_escalate):
    order = make_order("ordered")
    auth.login("doctor")
    page = client.get(f"/imaging/orders/{order.id}").get_data(as_text=True)
    assert 'id="action-escalate"' in page and ">Escalate to stat</h3>" in page
    assert 'name="escalate-reason"' in page and "Why it cannot wait" in page

    url = f"/imaging/orders/{order.id}/actions/escalate"
    empty = client.post(url, data={"escalate-version": order.version, "escalate-reason": " "}, headers=hx("order-main"))
    assert empty.status_code == 422 and b"is-invalid" in empty.data
    done = client.post(url, data={"escalate-version": order.version, "escalate-reason": "Dropping saturation"},
                       headers=hx("order-main"))
    html = done.get_data(as_text=True)
    assert done.status_code == 200 and f"Order {order.accession_number} is now stat." in html
    assert "<strong>Escalated</strong>" in html and "Why: Dropping saturation" in html
    with app.app_context():
        current = queries.get_order(order.id)
        assert (current.priority, current.status, current.version) == ("stat", "ordered", order.version + 1)
        event = queries.order_events(current)[-1]
        assert (event.event_type, event.from_status, event.to_status) == ("escalate", "ordered", "ordered")
        assert event.changes["reason"] == "Dropping saturation"


def test_a_new_action_is_refused_like_any_other(app, make_order, make_user, with_escalate):
    order, scheduler, doctor = make_order("ordered"), make_user("scheduler"), make_user("doctor")
    with app.app_context():
        current = queries.get_order(order.id)
        assert "escalate" in services.allowed_actions_for(doctor, current)
        assert "escalate" not in services.allowed_actions_for(scheduler, current)
        with pytest.raises(PermissionDenied, match=r"Your role \(scheduler\) cannot escalate orders."):
            services.apply_action(scheduler, current, "escalate", reason="Now")
        with pytest.raises(ValidationFailed) as refused:
            services.apply_action(doctor, current, "escalate", reason="   ", station_ae="CT1")
        assert refused.value.errors == {
            "station_ae": "A station is booked only when scheduling.", "reason": "This field is required.",
        }
        db.session.rollback()
    reported = make_order("reported")
    with app.app_context():
        assert "escalate" not in services.allowed_actions_for(doctor, queries.get_order(reported.id))
