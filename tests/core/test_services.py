"""The service layer's rules and its bad-input errors: a specific error, nothing written."""

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from webapp.auth.models import User
from webapp.errors import NotFound, PermissionDenied, StaleVersion, TransitionNotAllowed, ValidationFailed
from webapp.extensions import db
from webapp.imaging import services
from webapp.imaging.models import ImagingModality, ImagingOrder, OrderCounter, OrderEvent
from webapp.imaging.queries import get_order, order_events


def _counts():
    return (
        db.session.scalar(select(func.count()).select_from(ImagingOrder)),
        db.session.scalar(select(func.count()).select_from(OrderEvent)),
        db.session.scalar(select(func.coalesce(func.sum(OrderCounter.last_value), 0))),
    )


@pytest.fixture
def doctor(make_user):
    return make_user("doctor")


@pytest.fixture
def visit(make_visit):
    return make_visit()


def _create(doctor, visit, **overrides):
    values = dict(
        patient_id=visit.patient_id, visit_id=visit.id, modality="XRAY", body_part="CHEST",
        procedure_code="71046", clinical_indication="Suspected pneumonia",
    ) | overrides
    return services.create_order(db.session.get(User, doctor.id), **values)


def test_create_order_fills_everything(app, doctor, visit):
    with app.app_context():
        diagnosis_id = visit.diagnoses[0].id
        order = _create(doctor, visit, priority="stat", diagnosis_id=diagnosis_id, clinical_history="Smoker")
        db.session.commit()
        order = get_order(order.id)
        assert order.status == "ordered" and order.version == 1
        assert order.procedure_name == "X-Ray Chest, 2 views"
        assert order.ordered_by == doctor.id and order.diagnosis_id == diagnosis_id
        assert order.priority == "stat" and order.clinical_history == "Smoker"
        events = order_events(order)
        assert [(e.event_type, e.to_status, e.order_version, e.actor_id) for e in events] == [
            ("created", "ordered", 1, doctor.id)
        ]


BAD_CREATES = [
    ({"modality": "PET"}, "modality"),
    ({"body_part": "HEAD"}, "body_part"),  # X-ray of the head is not in the catalogue's body parts
    ({"procedure_code": "70450"}, "procedure_code"),  # CT head procedure on an X-ray chest order
    ({"procedure_code": "99999"}, "procedure_code"),
    ({"body_part": "EXTREMITY", "procedure_code": "73130"}, "laterality"),  # hand X-ray needs a side
    ({"laterality": "left"}, "laterality"),  # the chest has no sides
    ({"laterality": "up"}, "laterality"),
    ({"priority": "whenever"}, "priority"),
    ({"clinical_indication": "   "}, "clinical_indication"),
    ({"clinical_indication": "x" * 2001}, "clinical_indication"),
    ({"special_instructions": "x" * 2001}, "special_instructions"),
    ({"diagnosis_id": "not-a-uuid"}, "diagnosis_id"),
]


@pytest.mark.parametrize(("overrides", "field"), BAD_CREATES)
def test_bad_create_names_the_field_and_writes_nothing(app, doctor, visit, overrides, field):
    with app.app_context():
        before = _counts()
        with pytest.raises(ValidationFailed) as caught:
            _create(doctor, visit, **overrides)
        assert field in caught.value.errors
        db.session.rollback()
        assert _counts() == before


def test_unknown_ids_and_foreign_visit(app, doctor, visit, make_visit):
    other_visit = make_visit()
    with app.app_context():
        with pytest.raises(NotFound):
            _create(doctor, visit, patient_id="00000000-0000-0000-0000-000000000000")
        with pytest.raises(NotFound):
            _create(doctor, visit, visit_id="nonsense")
        with pytest.raises(ValidationFailed) as caught:
            _create(doctor, visit, visit_id=other_visit.id)
        assert "visit_id" in caught.value.errors
        with pytest.raises(ValidationFailed) as caught:
            _create(doctor, visit, diagnosis_id=other_visit.diagnoses[0].id)
        assert "diagnosis_id" in caught.value.errors
        db.session.rollback()
        assert _counts()[0] == 0


def test_inactive_modality_is_refused(app, doctor, visit):
    with app.app_context():
        db.session.get(ImagingModality, "XRAY").is_active = False
        db.session.commit()
        with pytest.raises(ValidationFailed) as caught:
            _create(doctor, visit)
        assert "modality" in caught.value.errors


def test_only_doctors_create(app, make_user, visit):
    for role in ("scheduler", "technician", "radiologist", "admin", "display"):
        user = make_user(role)
        with app.app_context():
            with pytest.raises(PermissionDenied):
                _create(user, visit)


def test_edit_records_what_changed_and_stale_version_is_refused(app, make_order):
    order = make_order("ordered")
    doctor = make_order.person("doctor")
    with app.app_context():
        current = get_order(order.id)
        services.update_order(
            db.session.get(User, doctor.id), current, {"priority": "urgent", "special_instructions": "Portable"},
            expected_version=1,
        )
        db.session.commit()
        current = get_order(order.id)
        assert current.version == 2 and current.priority == "urgent"
        last = order_events(current)[-1]
        assert last.event_type == "updated"
        assert last.changes["priority"] == {"from": "routine", "to": "urgent"}
        with pytest.raises(StaleVersion):
            services.update_order(db.session.get(User, doctor.id), current, {"priority": "stat"}, expected_version=1)
        with pytest.raises(ValidationFailed):
            services.update_order(db.session.get(User, doctor.id), current, {"status": "reported"})


def test_edit_is_refused_once_the_scan_started(app, make_order):
    order = make_order("in_progress")
    with app.app_context():
        with pytest.raises(TransitionNotAllowed):
            services.update_order(db.session.get(User, make_order.person("doctor").id), get_order(order.id),
                                  {"priority": "stat"})


def test_status_steps_set_dates_and_people(app, make_order):
    order = make_order("reported")
    with app.app_context():
        order = get_order(order.id)
        assert order.scheduled_by == make_order.person("scheduler").id
        assert order.performing_technician == make_order.person("technician").id
        assert order.reporting_radiologist == make_order.person("radiologist").id
        assert order.performed_date and order.completed_date and order.reported_date
        assert order.number_of_images == 12 and order.findings == "Clear lungs."
        assert [e.event_type for e in order_events(order)] == [
            "created", "schedule", "start", "complete", "report"]
        assert order.version == 5


def test_step_requirements(app, make_order):
    completed, ordered = make_order("completed"), make_order("ordered")
    with app.app_context():
        radiologist = db.session.get(User, make_order.person("radiologist").id)
        with pytest.raises(ValidationFailed) as caught:
            services.report_order(radiologist, get_order(completed.id), findings="", impression=None)
        assert set(caught.value.errors) == {"findings", "impression"}
        doctor = db.session.get(User, make_order.person("doctor").id)
        with pytest.raises(ValidationFailed) as caught:
            services.cancel_order(doctor, get_order(ordered.id), reason=" ")
        assert "reason" in caught.value.errors
        scheduler = db.session.get(User, make_order.person("scheduler").id)
        with pytest.raises(ValidationFailed) as caught:
            services.change_status(scheduler, get_order(ordered.id), "scheduled")
        assert "scheduled_date" in caught.value.errors
        with pytest.raises(ValidationFailed):
            services.schedule_order(scheduler, get_order(ordered.id), datetime(2026, 1, 1))  # naive
        db.session.rollback()
        assert get_order(ordered.id).status == "ordered"


def test_cancel_keeps_the_record_and_is_final(app, make_order):
    order = make_order("cancelled")
    with app.app_context():
        order = get_order(order.id)
        assert order.status == "cancelled" and order.cancellation_reason == "No longer indicated"
        assert order.cancelled_by == make_order.person("doctor").id
        scheduler = db.session.get(User, make_order.person("scheduler").id)
        with pytest.raises(TransitionNotAllowed):
            services.schedule_order(scheduler, order, datetime.now(timezone.utc) + timedelta(days=1))


def test_notes_are_appended_with_an_event(app, make_order):
    order = make_order("scheduled")
    with app.app_context():
        technician = db.session.get(User, make_order.person("technician").id)
        services.add_note(technician, get_order(order.id), "Patient is claustrophobic")
        services.add_note(technician, get_order(order.id), "Needs wheelchair")
        db.session.commit()
        current = get_order(order.id)
        assert "claustrophobic" in current.notes and current.notes.index("claustrophobic") < current.notes.index(
            "wheelchair")
        assert [e.event_type for e in order_events(current)][-2:] == ["note", "note"]
        with pytest.raises(ValidationFailed):
            services.add_note(technician, current, "x" * 5000)


def test_concurrent_change_with_same_version_loses(app, make_order):
    """The version column guards the UPDATE itself, not only the expected_version check."""
    order = make_order("scheduled")
    with app.app_context():
        technician = db.session.get(User, make_order.person("technician").id)
        current = get_order(order.id)
        # Someone else moves the order on behind this session's back.
        db.session.execute(
            ImagingOrder.__table__.update().where(ImagingOrder.id == order.id).values(version=current.version + 1)
        )
        with pytest.raises(StaleVersion):
            services.start_order(technician, current)
        db.session.rollback()


def test_an_orders_notes_have_a_total_bound(app, make_order):
    """Issue 26, item 13: notes grew to 100,000 characters in 25 requests; all of an order's notes
    together are now at most MAX_NOTES_LENGTH (20,000), and the one over it is refused whole."""
    from webapp.auth.models import User
    from webapp.errors import ValidationFailed
    from webapp.extensions import db, writing
    from webapp.imaging import queries, services
    from webapp.imaging.rules import MAX_NOTES_LENGTH

    order = make_order("ordered")
    doctor = make_order.person("doctor")
    with app.app_context(), writing():
        user = db.session.get(User, doctor.id)
        for _ in range(4):
            services.add_note(user, queries.get_order(order.id), "x" * 4000)
            db.session.commit()
        kept = queries.get_order(order.id)
        before = (kept.notes, kept.version)
        with pytest.raises(ValidationFailed) as refused:
            services.add_note(user, kept, "y" * 4000)
        db.session.rollback()
        assert "too many notes" in str(refused.value.errors["note"])
        after = queries.get_order(order.id)
        assert (after.notes, after.version) == before and len(after.notes) <= MAX_NOTES_LENGTH
