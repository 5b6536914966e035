"""``flask --app wsgi outbox run``: deliver the outbox until Ctrl-C or SIGTERM (``make run`` starts it).

Each round also escalates the critical results past CRITICAL_ACK_MINUTES (webapp.reporting.escalation)."""

from __future__ import annotations

import logging
import signal
import sys
import threading

import click
from flask import current_app
from flask.cli import AppGroup

from webapp.children import watch_parent

outbox_group = AppGroup("outbox", help="Outgoing messages (HL7, critical-result notifications) to other systems.")


@outbox_group.command("run")
@click.option("--once", is_flag=True, help="One round, then stop.")
def run_command(once: bool) -> None:
    """Deliver due messages, retrying while a receiver is down; escalate overdue critical results."""
    from webapp.outbox.dispatcher import Dispatcher

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = current_app._get_current_object()
    dispatcher = Dispatcher(app)
    if once:
        click.echo(f"{dispatcher.run_once()} messages handled.")
        dispatcher.close()
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    watch_parent(stop.set)
    receivers = ", ".join(app.config["HL7_OUTBOUND"]) or "none configured (HL7_OUTBOUND)"
    click.echo(f"Outbox dispatcher {dispatcher.name}; HL7 receivers: {receivers}. Ctrl-C stops it.")
    sys.stdout.flush()
    dispatcher.run(stop)
    click.echo("Outbox dispatcher stopped.")
