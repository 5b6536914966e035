"""Stations: the CLI that manages them, booking an order on one, and `worklist serve` itself."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.dicom.conftest import echo_ok
from webapp.auth.models import User
from webapp.config import ROOT
from webapp.dicom.stations import set_station_active
from webapp.errors import ValidationFailed
from webapp.extensions import db, writing
from webapp.imaging import services
from webapp.imaging.queries import active_stations, get_order, order_events

pytestmark = pytest.mark.sqlite_only

WHEN = datetime(2030, 3, 11, 9, 0, tzinfo=UTC)


def test_stations_cli(app, runner):
    result = runner.invoke(args=["stations", "add", "ct_er", "--modality", "ct", "--room", "Emergency"])
    assert result.exit_code == 0, result.output
    assert "CT_ER" in result.output
    assert runner.invoke(args=["stations", "add", "MR1", "--modality", "MRI"]).exit_code == 0
    duplicate = runner.invoke(args=["stations", "add", "CT_ER", "--modality", "CT"])
    assert duplicate.exit_code != 0 and "exists already" in duplicate.output
    assert runner.invoke(args=["stations", "add", "X" * 17, "--modality", "CT"]).exit_code != 0
    assert "Unknown modality" in runner.invoke(args=["stations", "add", "PET1", "--modality", "PET"]).output
    assert runner.invoke(args=["stations", "disable", "mr1"]).exit_code == 0
    listing = runner.invoke(args=["stations", "list"]).output
    assert "CT_ER" in listing and "Emergency" in listing and "out of service" in listing
    assert runner.invoke(args=["stations", "disable", "NOPE"]).exit_code != 0
    with app.app_context():
        assert [s.ae_title for s in active_stations()] == ["CT_ER"]
        assert active_stations("MRI") == []


def test_scheduling_books_a_station_of_the_right_modality(app, make_station, make_order):
    make_station("DX1", "XRAY")
    make_station("DX2", "XRAY")
    make_station("CT1", "CT")
    make_station("DXOLD", "XRAY")
    order = make_order("ordered")
    scheduler = make_order.person("scheduler")
    with app.app_context(), writing():
        set_station_active("DXOLD", False)
        db.session.commit()
    with app.app_context(), writing():
        who = db.session.get(User, scheduler.id)
        current = get_order(order.id)
        for bad, message in [("CT1", "not a X-Ray scanner"), ("NOPE", "Unknown station"),
                             ("DXOLD", "out of service"), (42, "Unknown station")]:
            with pytest.raises(ValidationFailed) as failure:
                services.schedule_order(who, current, WHEN, station_ae=bad)
            assert message in failure.value.errors["station_ae"]
            db.session.rollback()
            current = get_order(order.id)
        services.schedule_order(who, current, WHEN, station_ae="dx1")
        assert current.scheduled_station_ae == "DX1"
        # Rescheduling without a station keeps it; another station moves it; "" clears it.
        services.schedule_order(who, current, WHEN + timedelta(hours=1))
        assert current.scheduled_station_ae == "DX1"
        services.change_status(who, current, "scheduled", scheduled_date=WHEN, station_ae="DX2")
        assert current.scheduled_station_ae == "DX2"
        events = order_events(current)
        assert events[-1].changes["station_ae"] == {"from": "DX1", "to": "DX2"}
        services.schedule_order(who, current, WHEN, station_ae="")
        assert current.scheduled_station_ae is None
        with pytest.raises(ValidationFailed):
            services.start_order(db.session.get(User, make_order.person("technician").id), current, station_ae="DX1")
        db.session.rollback()


def test_changing_the_modality_releases_the_station(app, make_station, booked_order):
    make_station("DX1", "XRAY")
    order = booked_order(WHEN, "DX1")
    with app.app_context(), writing():
        doctor = db.session.scalar(db.select(User).where(User.role == "doctor"))
        current = get_order(order.id)
        services.update_order(doctor, current, {"modality": "CT", "body_part": "CHEST", "procedure_code": "71250"})
        assert current.scheduled_station_ae is None
        assert order_events(current)[-1].changes["scheduled_station_ae"] == {"from": "DX1", "to": None}
        db.session.rollback()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_worklist_serve_command(app, tmp_path):
    port = _free_port()
    env = os.environ | {
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "INSTANCE_PATH": str(tmp_path),
        "DICOM_ALLOWED_AE_TITLES": "CT1, PYSCU",
    }
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "worklist", "serve", "--port", str(port),
               "--ae-title", "IMAGINGORDERS"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        deadline = time.monotonic() + 30
        while not echo_ok(port) and time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read()
            time.sleep(0.2)
        assert echo_ok(port, "CT1")
        assert not echo_ok(port, "OTHER")
    finally:
        process.terminate()
        output = process.communicate(timeout=20)[0]
    assert f"Worklist service IMAGINGORDERS on 127.0.0.1:{port}" in output
    assert "CT1, PYSCU" in output
    assert "Worklist service stopped." in output and process.returncode == 0  # SIGTERM stops it cleanly
