"""``flask --app wsgi worklist serve`` and ``flask --app wsgi stations add/list/disable/enable``."""

from __future__ import annotations

import logging
import re
import signal
import sys

import click
from flask import current_app
from flask.cli import AppGroup

from webapp.dicom import DEFAULT_AE_TITLE, DEFAULT_HOST, DEFAULT_PORT
from webapp.dicom.stations import add_station, set_station_active
from webapp.errors import ServiceError
from webapp.extensions import db, writing
from webapp.imaging import queries

worklist_group = AppGroup("worklist", help="The DICOM Modality Worklist and MPPS service.")
stations_group = AppGroup("stations", help="Scanners (DICOM stations) orders are scheduled on.")


@worklist_group.command("serve")
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535))
@click.option("--ae-title", default=DEFAULT_AE_TITLE, show_default=True, help="This service's AE title.")
def serve_command(host: str, port: int, ae_title: str) -> None:
    """Answer C-ECHO, Modality Worklist C-FIND and MPPS N-CREATE/N-SET until Ctrl-C."""
    from webapp.dicom import server  # pynetdicom is loaded only by this command

    def stop(_signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # a service manager's stop ends it like Ctrl-C

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    app = current_app._get_current_object()
    allowed = app.config.get("DICOM_ALLOWED_AE_TITLES") or []
    click.echo(
        f"Worklist service {ae_title} on {host}:{port}; calling AE titles: "
        f"{', '.join(allowed) if allowed else 'any'}. Ctrl-C stops it."
    )
    if not app.config.get("REDIS_URL"):
        click.echo("REDIS_URL is not set and no `make run` server of this installation is running: MPPS "
                   "changes are saved but not pushed live to open pages; set it to the web app's Redis.")
    else:
        shown = re.sub(r"//([^/@]*)@", "//***@", app.config["REDIS_URL"])  # never print a password
        click.echo(f"Live events through {shown}.")
    try:
        sys.stdout.flush()
        server.start(app, host, port, ae_title, block=True)  # pynetdicom stops on KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("Worklist service stopped.")


def _committed(change, *args):
    """Run a station service as a writer and commit; its refusal becomes the command's error."""
    with writing():
        try:
            station = change(*args)
        except ServiceError as exc:
            db.session.rollback()
            raise click.ClickException("; ".join(exc.errors.values()) if exc.errors else exc.detail) from None
        db.session.commit()
    return station


@stations_group.command("add")
@click.argument("ae_title")
@click.option("--modality", required=True, help="Modality code: XRAY, CT, MRI, US, MG, FL.")
@click.option("--room", default="", help="Where the scanner stands.")
def add_station_command(ae_title: str, modality: str, room: str) -> None:
    """Register a scanner by its AE title."""
    station = _committed(add_station, ae_title, modality, room)
    click.echo(f"Added station {station.ae_title} ({station.modality}{', ' + station.room if station.room else ''}).")


@stations_group.command("list")
def list_stations_command() -> None:
    """List the stations."""
    stations = queries.all_stations()
    if not stations:
        click.echo("No stations. Add one with: flask --app wsgi stations add AE_TITLE --modality CT --room '...'")
        return
    for station in stations:
        state = "active" if station.is_active else "out of service"
        click.echo(f"{station.ae_title:<16} {station.modality:<6} {state:<14} {station.room}")


def _set_active(ae_title: str, active: bool) -> None:
    station = _committed(set_station_active, ae_title, active)
    click.echo(f"Station {station.ae_title} is {'active' if active else 'out of service'}.")


@stations_group.command("disable")
@click.argument("ae_title")
def disable_station_command(ae_title: str) -> None:
    """Take a station out of service (it can no longer be booked)."""
    _set_active(ae_title, False)


@stations_group.command("enable")
@click.argument("ae_title")
def enable_station_command(ae_title: str) -> None:
    """Put a station back in service."""
    _set_active(ae_title, True)
