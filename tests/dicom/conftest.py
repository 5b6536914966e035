"""Fixtures for the DICOM service: a running server on a free port, stations, booked orders,
and two clients (Debian dcmtk's findscu, and pynetdicom for MPPS and the failure cases)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import (
    ModalityPerformedProcedureStep,
    ModalityWorklistInformationFind,
    Verification,
)

from tests.services import dcmtk_available, require
from webapp.auth.models import User
from webapp.extensions import db, writing
from webapp.imaging import services
from webapp.imaging.queries import get_order

SERVICE_AE = "IMAGINGORDERS"


@pytest.fixture
def dicom_server(app):
    """The worklist service in a thread on a free port of 127.0.0.1; yields the port."""
    from webapp.dicom import server

    running = server.start(app, "127.0.0.1", 0, SERVICE_AE, block=False)
    yield running.server_address[1]
    running.shutdown()


@pytest.fixture
def booked_order(app, make_order):
    """booked_order(start, station_ae=None, status="scheduled", **create_fields) -> detached order.

    The order is placed, then scheduled for ``start`` (an aware datetime) on the station by a
    scheduler through the service layer; ``status`` "in_progress"/"completed"/"cancelled" goes on.
    """

    def factory(start: datetime, station_ae: str | None = None, status: str = "scheduled", **fields):
        order = make_order("ordered", **fields)
        scheduler = make_order.person("scheduler")
        people = {role: make_order.person(role) for role in ("technician", "doctor")}
        with app.app_context(), writing():
            current = get_order(order.id)
            # Several orders at one time on a scanner on purpose (the worklist's filters); the
            # booking rules themselves are tested in tests/booking.
            services.schedule_order(db.session.get(User, scheduler.id), current, start, station_ae=station_ae,
                                    allow_overlap=True, reason="Booked by the DICOM tests")
            tech = db.session.get(User, people["technician"].id)
            if status in ("in_progress", "completed"):
                services.start_order(tech, current)
            if status == "completed":
                services.complete_order(tech, current, number_of_images=3)
            if status == "cancelled":
                services.cancel_order(db.session.get(User, people["doctor"].id), current, reason="Not needed")
            db.session.commit()
            db.session.refresh(current)
            db.session.expunge(current)
            return current

    return factory


# ---------------------------------------------------------------------------- clients


def findscu(port: int, keys: list[str], out_dir: Path, calling_ae: str = "FINDSCU") -> list[Dataset]:
    """Run dcmtk's ``findscu -W`` with ``-k`` keys; return the worklist items it received."""
    require(dcmtk_available(), "dcmtk (findscu)")
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    command = ["findscu", "-W", "-aet", calling_ae, "-aec", SERVICE_AE, "-X", "-od", str(out_dir)]
    for key in keys:
        command += ["-k", key]
    command += ["127.0.0.1", str(port)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [dcmread(path) for path in sorted(out_dir.glob("rsp*.dcm"))]


def association(port: int, calling_ae: str = "PYSCU", contexts=None):
    ae = AE(ae_title=calling_ae)
    for sop_class in contexts or (Verification, ModalityWorklistInformationFind, ModalityPerformedProcedureStep):
        ae.add_requested_context(sop_class)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    return ae.associate("127.0.0.1", port, ae_title=SERVICE_AE)


def echo_ok(port: int, calling_ae: str = "PYSCU") -> bool:
    assoc = association(port, calling_ae, [Verification])
    if not assoc.is_established:
        return False
    try:
        return assoc.send_c_echo().Status == 0x0000
    finally:
        assoc.release()


def c_find(port: int, identifier: Dataset, calling_ae: str = "PYSCU") -> tuple[list[int], list[Dataset]]:
    """Send one worklist C-FIND with pynetdicom; return every status and the pending identifiers."""
    assoc = association(port, calling_ae)
    assert assoc.is_established
    statuses, items = [], []
    try:
        for status, item in assoc.send_c_find(identifier, ModalityWorklistInformationFind):
            statuses.append(status.Status)
            if status.Status in (0xFF00, 0xFF01):
                items.append(item)
    finally:
        assoc.release()
    return statuses, items
