"""The order form's one-time token (webapp.imaging.form_submissions): one order per form, however
often and however simultaneously it is sent, and a token only for its own user and visit."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select, text

from webapp.auth.models import User
from webapp.extensions import db, writing
from webapp.imaging import form_submissions
from webapp.imaging.form_submissions import SubmissionInProgress
from webapp.imaging.models import ImagingOrder, OrderFormSubmission

VALUES = {"modality": "XRAY", "body_part": "CHEST", "procedure_code": "71046",
          "clinical_indication": "Suspected pneumonia"}


@pytest.fixture
def doctor(make_user):
    return make_user("doctor")


def _orders(visit) -> int:
    return db.session.scalar(select(func.count()).select_from(ImagingOrder).where(ImagingOrder.visit_id == visit.id))


def test_a_resent_form_gets_the_order_the_first_one_placed(app, doctor, make_visit):
    visit = make_visit()
    with app.app_context(), writing():
        first = form_submissions.place_once(db.session.get(User, doctor.id), visit, "nonce-1", **VALUES)
        db.session.commit()
        again = form_submissions.place_once(db.session.get(User, doctor.id), visit, "nonce-1", **VALUES)
        other = form_submissions.place_once(db.session.get(User, doctor.id), visit, "nonce-2", **VALUES)
        db.session.commit()
        assert again.id == first.id and other.id != first.id
        assert _orders(visit) == 2
        assert db.session.get(OrderFormSubmission, "nonce-1").order_id == first.id


def test_a_form_whose_first_submission_placed_nothing_is_refused(app, doctor, make_visit):
    visit = make_visit()
    with app.app_context(), writing():
        db.session.add(OrderFormSubmission(token="nonce-1", user_id=doctor.id))
        db.session.commit()
        with pytest.raises(SubmissionInProgress) as refused:
            form_submissions.place_once(db.session.get(User, doctor.id), visit, "nonce-1", **VALUES)
        assert refused.value.status == 409
        db.session.rollback()
        assert _orders(visit) == 0


def _wait_for_a_blocked_writer(app) -> None:
    """Until the second submission waits for the first one's transaction (PostgreSQL: its insert
    waits on the token's key; SQLite: its transaction waits for the write lock)."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            time.sleep(0.5)
            return
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            waiting = db.session.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ))
            db.session.rollback()
            if waiting:
                return
            time.sleep(0.05)
        raise AssertionError("the second submission never waited for the first")


def test_two_submissions_at_the_same_moment_place_one_order(app, doctor, make_visit):
    """The second waits for the first; on PostgreSQL its insert then fails on the token's key,
    which rolls back to a savepoint only: it is given the first one's order and its transaction
    stays usable (it commits)."""
    visit = make_visit()
    flushed, release = threading.Event(), threading.Event()
    placed: dict[str, object] = {}

    def submit(name: str) -> None:
        with app.app_context(), writing():
            order = form_submissions.place_once(db.session.get(User, doctor.id), visit, "same-form", **VALUES)
            placed[name] = order.id
            if name == "first":
                flushed.set()
                release.wait(30)
            db.session.commit()
            placed[name + " committed"] = True

    first = threading.Thread(target=submit, args=("first",), daemon=True)
    first.start()
    assert flushed.wait(30)
    second = threading.Thread(target=submit, args=("second",), daemon=True)
    second.start()
    _wait_for_a_blocked_writer(app)
    assert "second" not in placed  # still waiting for the first
    release.set()
    first.join(30)
    second.join(30)
    assert placed["second"] == placed["first"]
    assert placed.get("second committed") and placed.get("first committed")
    with app.app_context():
        assert _orders(visit) == 1


def test_a_token_is_for_its_own_user_and_visit_only(app, doctor, make_user, make_visit):
    visit, other_visit = make_visit(), make_visit()
    other_doctor = make_user("doctor")
    with app.test_request_context():
        token = form_submissions.new_token(doctor, visit)
        nonce = form_submissions.token_nonce(token, doctor, visit)
        assert nonce and nonce in {form_submissions.token_nonce(token, doctor, visit)}
        assert form_submissions.token_nonce(token, other_doctor, visit) is None
        assert form_submissions.token_nonce(token, doctor, other_visit) is None
        assert form_submissions.token_nonce(token + "x", doctor, visit) is None
        assert form_submissions.token_nonce(None, doctor, visit) is None
        assert form_submissions.new_token(doctor, visit) != token  # a new one-time part each time
