"""The outbox: every order change reaches the HL7 receiver (hl7apy's MLLP server), once and in order."""

from __future__ import annotations

import time
from collections import defaultdict

from sqlalchemy import func, select

from tests.hl7.conftest import outbox_rows
from tests.hl7.peers import field
from webapp.extensions import db, writing
from webapp.outbox.models import OutboxMessage


def _by_order(messages: list[str]) -> dict[str, list[str]]:
    """ORC-1 (ORM) or OBR-25 (ORU) of each message, per accession number (ORC-3), in arrival order."""
    result = defaultdict(list)
    for message in messages:
        code = field(message, "OBR", 25) if field(message, "MSH", 9).startswith("ORU") else field(message, "ORC", 1)
        result[field(message, "ORC", 3)].append(f"{field(message, 'MSH', 9)[:7]} {code} {field(message, 'ORC', 5)}")
    return result


def _wait(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


EXPECTED_REPORTED = ["ORM^O01 NW ", "ORM^O01 SC SC", "ORM^O01 SC IP", "ORM^O01 SC CM", "ORU^R01 F CM"]


def test_every_change_of_an_order_arrives_once_in_order(app, receiver, make_order, run_dispatchers):
    order = make_order("reported")
    rows = outbox_rows(app)
    assert [row.kind for row in rows] == ["ORM^O01 NW", "ORM^O01 SC", "ORM^O01 SC", "ORM^O01 SC", "ORU^R01 F"]
    assert all(row.state == "pending" for row in rows)

    run_dispatchers()
    messages = receiver.wait_for(5)
    assert _by_order(messages) == {order.accession_number: EXPECTED_REPORTED}
    assert [field(m, "MSH", 10) for m in messages] == [str(row.id) for row in rows]
    orm, oru = messages[0], messages[-1]
    assert field(orm, "MSH", 12) == "2.5.1"
    assert field(orm, "OBR", 18) == order.accession_number
    assert field(orm, "ORC", 2) == order.order_number
    assert field(orm, "OBR", 4).startswith("71046^")
    with app.app_context():
        from webapp.imaging.models import ImagingOrder

        saved = db.session.get(ImagingOrder, order.id)
        assert field(orm, "PID", 3).split("^")[0] == saved.patient.mrn
        assert field(orm, "PV1", 19) == str(saved.visit_id)
    obx = [line for line in oru.split("\r") if line.startswith("OBX|")]
    assert [line.split("|")[5] for line in obx] == ["Normal.", "Clear lungs."]
    assert _wait(lambda: all(row.state == "sent" and row.attempts == 1 for row in outbox_rows(app)))


def test_a_cancel_and_an_edit_send_ca_and_xo(app, receiver, make_order, run_dispatchers):
    from webapp.auth.models import User
    from webapp.imaging import services
    from webapp.imaging.models import ImagingOrder

    order = make_order("scheduled")
    with app.app_context(), writing():
        saved = db.session.get(ImagingOrder, order.id)
        doctor = db.session.get(User, saved.ordered_by)
        services.update_order(doctor, saved, {"priority": "stat"})
        services.cancel_order(doctor, saved, "Patient declined")
        db.session.commit()
    run_dispatchers()
    messages = receiver.wait_for(4)
    assert _by_order(messages)[order.accession_number] == [
        "ORM^O01 NW ", "ORM^O01 SC SC", "ORM^O01 XO SC", "ORM^O01 CA CA"]
    assert field(messages[2], "OBR", 27).endswith("^S")
    assert "Patient declined" in field(messages[3], "ORC", 16)


def test_a_rolled_back_change_sends_nothing(app, receiver, make_order, run_dispatchers):
    from webapp.auth.models import User
    from webapp.imaging import services
    from webapp.imaging.models import ImagingOrder

    order = make_order("ordered")
    with app.app_context(), writing():
        saved = db.session.get(ImagingOrder, order.id)
        services.cancel_order(db.session.get(User, saved.ordered_by), saved, "Changed my mind")
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 2  # in the transaction
        db.session.rollback()
    assert [row.kind for row in outbox_rows(app)] == ["ORM^O01 NW"]
    run_dispatchers()
    assert len(receiver.wait_for(1)) == 1
    time.sleep(0.5)
    assert [field(m, "ORC", 1) for m in receiver.received] == ["NW"]


def test_an_order_placed_through_the_api_is_sent(app, receiver, client, make_user, make_visit, run_dispatchers):
    visit = make_visit()
    doctor = make_user("doctor")
    token = client.post("/api/v1/auth/token", json={"username": doctor.username, "password": "password-123"})
    response = client.post("/api/v1/imaging/orders", json={
        "patient_id": str(visit.patient_id), "visit_id": str(visit.id), "modality": "CT", "body_part": "HEAD",
        "clinical_indication": "Headache", "priority": "urgent",
    }, headers={"Authorization": f"Bearer {token.get_json()['access_token']}"})
    assert response.status_code == 201, response.get_data(as_text=True)
    run_dispatchers()
    messages = receiver.wait_for(1)
    assert field(messages[0], "ORC", 3) == response.get_json()["accession_number"]
    assert field(messages[0], "OBR", 27).endswith("^A")


def test_no_receiver_configured_writes_no_rows(app, make_order):
    app.config["HL7_OUTBOUND"] = []
    make_order("scheduled")
    assert outbox_rows(app) == []


def test_a_receiver_down_for_a_while_gets_everything_once_in_order(app, receiver, make_order, run_dispatchers):
    receiver.stop()
    orders = [make_order("ordered") for _ in range(3)]
    run_dispatchers()
    assert _wait(lambda: all(row.state == "failed" and row.attempts >= 2 for row in outbox_rows(app)))
    assert all("cannot connect" in row.last_error for row in outbox_rows(app))
    # Changes keep coming while it is down: they queue behind the order's first message.
    more = [make_order("in_progress") for _ in range(2)]
    time.sleep(0.5)
    receiver.start()
    total = 3 + 3 * 2
    messages = receiver.wait_for(total)
    assert _wait(lambda: len(receiver.received) >= total)
    time.sleep(0.5)
    assert len(receiver.received) == total
    control_ids = [field(m, "MSH", 10) for m in receiver.received]
    assert len(set(control_ids)) == total, "each message arrived once"
    by_order = _by_order(receiver.received)
    for order in orders:
        assert by_order[order.accession_number] == ["ORM^O01 NW "]
    for order in more:
        assert by_order[order.accession_number] == ["ORM^O01 NW ", "ORM^O01 SC SC", "ORM^O01 SC IP"]
    assert messages


def test_an_ae_answer_is_retried_then_delivered(app, receiver, make_order, run_dispatchers):
    receiver.refuse(1)
    order = make_order("scheduled")
    run_dispatchers()
    messages = receiver.wait_for(2)
    assert [field(m, "ORC", 1) for m in messages] == ["NW", "SC"]
    assert len(receiver.refused) == 1 and field(receiver.refused[0], "ORC", 1) == "NW"
    assert field(receiver.refused[0], "MSH", 10) == field(messages[0], "MSH", 10)  # the same message again
    assert _wait(lambda: [row.state for row in outbox_rows(app)] == ["sent", "sent"])
    first = outbox_rows(app)[0]
    assert first.attempts == 2
    assert order.accession_number == field(messages[0], "ORC", 3)


def test_an_order_from_the_ehr_goes_out_with_the_ehr_numbers(app, receiver, make_user, run_dispatchers):
    from tests.hl7.test_inbound import orm
    from webapp.hl7.listener import handle_message

    make_user("doctor", username="drhouse")
    ack = handle_message(app, orm(placer="EHR-77", visit="V-77"))
    assert "|AA|" in ack
    run_dispatchers()
    message = receiver.wait_for(1)[0]
    assert (field(message, "ORC", 1), field(message, "ORC", 2), field(message, "PV1", 19)) == ("NW", "EHR-77", "V-77")
    assert field(message, "ORC", 3) in ack


def test_a_round_that_fails_does_not_stop_the_dispatcher(app, receiver, make_order, run_dispatchers, monkeypatch):
    from webapp.outbox.dispatcher import Dispatcher

    real_claim, failures = Dispatcher.claim, []

    def claim_failing_once(self):
        if not failures:
            failures.append(1)
            raise RuntimeError("a bug in one round")
        return real_claim(self)

    monkeypatch.setattr(Dispatcher, "claim", claim_failing_once)
    order = make_order("ordered")
    run_dispatchers()
    messages = receiver.wait_for(1)
    assert failures and [field(m, "ORC", 3) for m in messages] == [order.accession_number]
