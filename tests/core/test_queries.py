"""Lookups, the filtered list with keyset pagination, and dashboard counts."""

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from webapp.auth.models import User
from webapp.errors import NotFound, ValidationFailed
from webapp.extensions import db, writing
from webapp.imaging import services
from webapp.imaging.boards import dashboard_counts, worklist_orders
from webapp.imaging.models import OPEN_STATUSES, STATUSES, ImagingModality, ImagingOrder
from webapp.imaging.order_list import OrderFilter, list_orders
from webapp.imaging.queries import get_order, get_order_by_accession, patient_orders, visit_orders


def test_lookups(app, make_order, make_visit):
    visit = make_visit()
    first = make_order(visit=visit)
    second = make_order("scheduled", visit=visit)
    other = make_order()
    with app.app_context():
        assert get_order_by_accession(first.accession_number.lower()).id == first.id
        assert [o.id for o in visit_orders(visit.id)] == [second.id, first.id]
        assert [o.id for o in patient_orders(visit.patient_id)] == [second.id, first.id]
        assert other.id not in {o.id for o in patient_orders(visit.patient_id)}
        for bad in ("nope", "00000000-0000-0000-0000-000000000000"):
            with pytest.raises(NotFound):
                get_order(bad)
            with pytest.raises(NotFound):
                patient_orders(bad)
        with pytest.raises(NotFound):
            get_order_by_accession("ACC-1999-00001")


def test_filters_and_search(app, make_order, make_patient, make_visit):
    # An MRN unlike the factory's random MRN<8 digits>, so no other patient's MRN contains it.
    smith = make_visit(patient=make_patient(first_name="John", last_name="Smith", mrn="SMJ777"))
    ct = make_order(visit=smith, modality="CT", body_part="HEAD", procedure_code="70450", priority="stat")
    xr = make_order("scheduled")
    with app.app_context():
        def ids(**args):
            return {o.id for o in list_orders(OrderFilter.from_args(MultiDict(args)))[0]}

        assert ids(modality="CT") == {ct.id}
        assert ids(status="scheduled") == {xr.id}
        assert ids(priority="stat") == {ct.id}
        assert ids(q="smith") == {ct.id}
        assert ids(q="john smith") == {ct.id}
        assert ids(q="SMJ777") == {ct.id}
        assert ids(q=xr.accession_number) == {xr.id}
        assert ids(q=xr.order_number.lower()) == {xr.id}
        today = datetime.now(timezone.utc).date()
        assert ids(date_from=today.isoformat(), date_to=today.isoformat()) == {ct.id, xr.id}
        assert ids(date_to=(today - timedelta(days=2)).isoformat()) == set()
        for bad in ({"status": "done"}, {"priority": "asap"}, {"date_from": "yesterday"},
                    {"date_from": "2026-02-02", "date_to": "2026-02-01"}):
            with pytest.raises(ValidationFailed):
                OrderFilter.from_args(MultiDict(bad))


def test_keyset_pages_cover_everything_once(app, make_order, make_visit):
    visit = make_visit()
    made = [make_order(visit=visit).id for _ in range(7)]
    with app.app_context():
        seen, cursor = [], None
        while True:
            page, cursor = list_orders(limit=3, cursor=cursor)
            seen.extend(o.id for o in page)
            if cursor is None:
                break
        assert seen == list(reversed(made))
        with pytest.raises(ValidationFailed):
            list_orders(cursor="garbage!")
        with pytest.raises(ValidationFailed):
            list_orders(limit=201)


def test_dashboard_counts(app, make_order):
    make_order("ordered", priority="stat")
    make_order("scheduled", priority="urgent")
    make_order("reported", priority="stat")
    make_order("cancelled")
    make_order("in_progress", modality="CT", body_part="HEAD", procedure_code="70450")
    with app.app_context():
        counts = dashboard_counts()
        assert counts.by_status == {"ordered": 1, "scheduled": 1, "in_progress": 1, "completed": 0,
                                    "reported": 1, "cancelled": 1}
        assert counts.by_modality["XRAY"] == 2 and counts.by_modality["CT"] == 1 and counts.by_modality["MRI"] == 0
        assert (counts.open_stat, counts.open_urgent) == (1, 1)
        assert counts.today_total == 5 and counts.total == 5
        assert counts.today_by_status == counts.by_status

    # More changes (cancelled from other statuses, an edit of modality and priority): the figures
    # still equal real counts of the orders.
    scheduled = make_order("scheduled", modality="US", body_part="ABDOMEN", procedure_code="76700")
    completed = make_order("completed", modality="MRI", body_part="HEAD", procedure_code="70551", priority="urgent")
    with app.app_context(), writing():
        doctor = db.session.get(User, make_order.person("doctor").id)
        services.update_order(doctor, get_order(scheduled.id), {"modality": "CT", "body_part": "HEAD",
                                                               "procedure_code": "70450", "priority": "stat"})
        services.cancel_order(doctor, get_order(completed.id), reason="Done elsewhere")
        db.session.commit()
        counts = dashboard_counts()
        real = db.session.execute(select(ImagingOrder.status, ImagingOrder.modality, ImagingOrder.priority)).all()
        assert counts.by_status == {s: sum(1 for o in real if o.status == s) for s in STATUSES}
        assert counts.by_modality == {m: sum(1 for o in real if o.modality == m and o.status in OPEN_STATUSES)
                                      for m in counts.by_modality}
        assert set(counts.by_modality) == {m.code for m in db.session.scalars(select(ImagingModality))}
        assert counts.open_stat == sum(1 for o in real if o.priority == "stat" and o.status in OPEN_STATUSES) == 2
        assert counts.open_urgent == sum(1 for o in real if o.priority == "urgent" and o.status in OPEN_STATUSES)
        assert counts.total == len(real) == 7 and counts.today_by_status == counts.by_status


def test_worklist_has_todays_scheduled_and_in_progress(app, make_order):
    scheduled = make_order("scheduled")  # booked later today by the factory
    running = make_order("in_progress", modality="CT", body_part="HEAD", procedure_code="70450")
    make_order("ordered")
    make_order("completed")
    with app.app_context():
        day = datetime.now(timezone.utc).date()  # the clinic's day (APP_TIMEZONE is UTC here)
        assert {o.id for o in worklist_orders(day)} == {scheduled.id, running.id}
        assert {o.id for o in worklist_orders(day, modality="CT")} == {running.id}
        assert {o.id for o in worklist_orders(date(2000, 1, 1))} == {running.id}
