"""Issue 21, defect 8 (last part): four EHR orders at once for one new MRN, on PostgreSQL.

Before: the four transactions each found no patient and each inserted one; three failed on the
MRN's unique constraint and were answered AE. Now the patient is upserted (INSERT ... ON CONFLICT
DO NOTHING, then the row locked: webapp.hl7.pid), so all four are placed on one patient.
Each message comes from its own python-hl7 MLLP client, on its own connection, at the same moment.
"""

from __future__ import annotations

import threading

import hl7
import pytest
from hl7.client import MLLPClient
from sqlalchemy import func, select

from tests.conftest import with_schema
from tests.hl7.test_inbound import _msa, orm
from webapp.extensions import db
from webapp.imaging.models import ImagingOrder
from webapp.patients.models import Patient
from webapp.visits.models import Visit


@pytest.fixture(scope="module")
def database_url(postgres_database):
    """Writers at once is a PostgreSQL set-up (SQLite has one writer at a time)."""
    return with_schema(postgres_database)


@pytest.fixture
def app_config():
    return {}


def test_four_orders_at_once_for_a_new_mrn_make_one_patient(app, make_user, listener):
    make_user("doctor", username="drhouse")
    clients = [MLLPClient("127.0.0.1", listener) for _ in range(4)]
    start = threading.Barrier(4)
    answers: dict[int, hl7.Message] = {}

    def send(index: int) -> None:
        text = orm(control_id=f"RACE{index}", placer=f"EHR-RACE-{index}", mrn="NEWMRN77", visit="V-RACE")
        start.wait()
        raw = clients[index].send_message(text)
        answers[index] = hl7.parse(raw.decode("utf-8").strip("\x0b\x1c\r"))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for client in clients:
        client.close()
    assert sorted(_msa(answer)[:2] for answer in answers.values()) == [("AA", f"RACE{i}") for i in range(4)], answers
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Patient)) == 1
        assert db.session.scalar(select(func.count()).select_from(Visit)) == 1
        orders = db.session.scalars(select(ImagingOrder)).all()
        assert len(orders) == 4 and len({order.patient_id for order in orders}) == 1
        assert sorted(_msa(answer)[2] for answer in answers.values()) == sorted(o.accession_number for o in orders)
