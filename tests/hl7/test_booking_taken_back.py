"""A booking or a start taken back, a reschedule and a side removed reach the receiver (hl7apy's
MLLP server, tests/hl7/peers.py) as changes it applies, with what was taken away deleted.

The HL7 v2.5.1 fields, and where the standard says so:

- ORC-1 ``XO`` (table 0119 "change order"; IHE RAD TF-2 RAD-13 Procedure Update: "procedure-related
  information (including scheduled date/time and/or resource) has been changed") for an unbooking,
  an undone start and a reschedule. ORC-1 ``SC`` ("status changed") is what a placed order's
  booking, start and completion send (a receiver that reads SC as a status report ignores one
  whose ORC-5 reports no new status, or one going back).
- ORC-5 order status (table 0038): ``SC`` after a reschedule or an undone start; the null value
  ``""`` after an unbooking (table 0038 has no code for an order waiting to be booked).
- The null value ``""``: "If no value is sent (i.e., it is omitted) the old value should remain
  unchanged. If the null value is sent, the old value should be changed to null" (HL7 v2.5.1
  chapter 2, section 2.5.3). An unbooking sends OBR-27 (quantity/timing) component 4 (start
  date/time) and OBR-36 (scheduled date/time) null; an undone start OBR-7 (observation date/time,
  the scan's start); an edit that takes the side away OBR-46.
- ORC-16 order control code reason (4.5.1.16, CE, the text in component 2): the unbooking's
  reason; "Scan start undone" with the technician's note.
"""

from __future__ import annotations

from datetime import timedelta

from tests.api.conftest import bearer  # noqa: F401  (the API's token fixture)
from tests.hl7.peers import field
from webapp.extensions import db, writing

NULL = '""'


def _codes(messages: list[str]) -> list[str]:
    return [f"{field(m, 'ORC', 1)} {field(m, 'ORC', 5)}" for m in messages]


def _booked(message: str) -> str:
    return field(message, "OBR", 27).split("^")[3]


def _take(app, order_id, role_user, action, **values):
    from webapp.auth.models import User
    from webapp.imaging import services
    from webapp.imaging.models import ImagingOrder

    with app.app_context(), writing():
        order = db.session.get(ImagingOrder, order_id)
        services.apply_action(db.session.get(User, role_user.id), order, action, **values)
        db.session.commit()


def test_an_unbooking_sends_xo_with_the_booking_and_the_status_deleted(app, receiver, make_order, run_dispatchers,
                                                                        client, bearer):  # noqa: F811
    order = make_order("scheduled", priority="urgent")
    response = client.patch(f"/api/v1/imaging/orders/{order.id}/status", headers=bearer("scheduler"),
                            json={"status": "ordered", "reason": "Patient unwell | call back"})
    assert response.status_code == 200, response.get_data(as_text=True)
    run_dispatchers()
    messages = receiver.wait_for(3)
    assert _codes(messages) == ["NW ", "SC SC", f"XO {NULL}"]
    booking, unbooking = messages[1], messages[2]
    assert _booked(booking) and field(booking, "OBR", 36) == _booked(booking)
    assert field(unbooking, "OBR", 27) == f'^^^{NULL}^^A'  # the time deleted, the priority kept
    assert field(unbooking, "OBR", 36) == NULL
    assert field(unbooking, "ORC", 16) == "^Patient unwell \\F\\ call back"
    assert field(unbooking, "ORC", 3) == order.accession_number


def test_booked_again_after_an_unbooking_sends_the_new_time(app, receiver, make_order, run_dispatchers):
    order = make_order("scheduled")
    scheduler = make_order.person("scheduler")
    _take(app, order.id, scheduler, "unbook", reason="Scanner double-booked")
    later = order.scheduled_date + timedelta(days=1)
    _take(app, order.id, scheduler, "schedule", scheduled_date=later)
    run_dispatchers()
    messages = receiver.wait_for(4)
    assert _codes(messages) == ["NW ", "SC SC", f"XO {NULL}", "SC SC"]
    rebooked = messages[3]
    assert _booked(rebooked) == field(rebooked, "OBR", 36) != _booked(messages[1])
    assert NULL not in rebooked and not field(rebooked, "ORC", 16)


def test_an_undone_start_sends_xo_scheduled_with_the_start_deleted(app, receiver, make_order, run_dispatchers):
    from webapp.db_types import utcnow

    order = make_order("scheduled")
    technician = make_order.person("technician")
    # Both moments in the past (a message is due from its event's time) and 30 s apart (the
    # undo window is 5 minutes), whatever the clock says.
    started = utcnow() - timedelta(minutes=1)
    _take(app, order.id, technician, "start", now=started)
    _take(app, order.id, technician, "undo_start", note="Wrong patient on the table", now=started + timedelta(seconds=30))
    run_dispatchers()
    messages = receiver.wait_for(4)
    assert _codes(messages) == ["NW ", "SC SC", "SC IP", "XO SC"]
    start, undo = messages[2], messages[3]
    assert field(start, "OBR", 7) and field(undo, "OBR", 7) == NULL
    assert _booked(undo) == _booked(messages[1]) and field(undo, "OBR", 36) == _booked(undo)  # still booked
    assert field(undo, "ORC", 16) == "^Scan start undone: Wrong patient on the table"


def test_a_reschedule_sends_xo_with_the_new_time(app, receiver, make_order, run_dispatchers):
    order = make_order("scheduled")
    later = order.scheduled_date + timedelta(days=2)
    _take(app, order.id, make_order.person("scheduler"), "reschedule", scheduled_date=later)
    run_dispatchers()
    messages = receiver.wait_for(3)
    assert _codes(messages) == ["NW ", "SC SC", "XO SC"]
    assert _booked(messages[2]) == field(messages[2], "OBR", 36) != _booked(messages[1])
    assert NULL not in messages[2]


def test_an_edit_that_takes_the_side_away_deletes_obr_46(app, receiver, make_order, run_dispatchers):
    from webapp.auth.models import User
    from webapp.imaging import services
    from webapp.imaging.models import ImagingOrder

    order = make_order("ordered", body_part="EXTREMITY", procedure_code="73130", laterality="left")
    with app.app_context(), writing():
        saved = db.session.get(ImagingOrder, order.id)
        services.update_order(db.session.get(User, saved.ordered_by), saved,
                              {"body_part": "CHEST", "procedure_code": "71046", "laterality": None})
        db.session.commit()
    run_dispatchers()
    messages = receiver.wait_for(2)
    assert _codes(messages) == ["NW ", "XO "]  # never booked: no status to delete
    assert field(messages[0], "OBR", 46) == "LEFT"
    assert field(messages[1], "OBR", 46) == NULL
    assert field(messages[1], "OBR", 4).startswith("71046^")
    assert field(messages[1], "OBR", 36) == "" and _booked(messages[1]) == ""  # nothing booked, nothing deleted
