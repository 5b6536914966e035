"""``flask --app wsgi pacs follow`` and ``flask --app wsgi pacs sync [--from DATE --to DATE]``."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from datetime import date

import click
from flask import current_app
from flask.cli import AppGroup

from webapp import heartbeats
from webapp.children import watch_parent
from webapp.errors import ServiceError
from webapp.pacs.client import OrthancUnavailable

pacs_group = AppGroup("pacs", help="The PACS (Orthanc): follow its studies and match them to orders.")


def _follower():
    from webapp.pacs.follower import Follower

    app = current_app._get_current_object()
    if not app.config.get("ORTHANC_URL"):
        raise click.ClickException("ORTHANC_URL is not set: the PACS integration is off.")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return Follower(app)


@pacs_group.command("follow")
def follow_command() -> None:
    """Follow Orthanc's change feed until Ctrl-C (or SIGTERM): every stable study is matched to its order."""
    follower = _follower()
    stop = threading.Event()

    def on_signal(_signum, _frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    watch_parent(stop.set)  # started by `make run`: stop with it, even if it dies without telling us
    click.echo(f"PACS follower: following {follower.client.url}/changes. Ctrl-C stops it.")
    sys.stdout.flush()
    beating = heartbeats.keep_beating(current_app._get_current_object(), "PACS follower",
                                      heartbeats.instance_name(), stop)
    follower.follow(stop)
    beating.join(2)
    click.echo("PACS follower stopped.")


def _day(_ctx, _param, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use YYYY-MM-DD") from None


@pacs_group.command("sync")
@click.option("--from", "date_from", callback=_day, help="Rescan studies from this study date (YYYY-MM-DD).")
@click.option("--to", "date_to", callback=_day, help="… up to this study date (default: --from).")
def sync_command(date_from: date | None, date_to: date | None) -> None:
    """One pass over the change feed from the stored position; with --from/--to, a rescan of those study dates."""
    follower = _follower()
    if date_to is not None and date_from is None:
        raise click.BadParameter("--to needs --from", param_hint="--to")
    try:
        if date_from is not None:
            date_to = date_to or date_from
            if date_to < date_from:
                raise click.BadParameter("--to is before --from", param_hint="--to")
            count = follower.rescan(date_from, date_to)
            click.echo(f"Rescanned {count} stud{'y' if count == 1 else 'ies'} of {date_from} to {date_to}.")
        else:
            count = follower.sync()
            click.echo(f"Recorded {count} stud{'y' if count == 1 else 'ies'} from the change feed.")
    except OrthancUnavailable as exc:
        raise click.ClickException(f"Orthanc is unavailable: {exc}") from None
    except ServiceError as exc:
        raise click.ClickException(exc.detail) from None
