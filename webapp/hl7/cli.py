"""``flask --app wsgi hl7 listen --port P``: orders and ADT from an EHR over MLLP, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys
import threading

import click
from flask import current_app
from flask.cli import AppGroup

from webapp import heartbeats
from webapp.children import watch_parent
from webapp.hl7 import DEFAULT_LISTEN_HOST

hl7_group = AppGroup("hl7", help="HL7 v2 over MLLP: orders and ADT from an EHR.")


@hl7_group.command("listen")
@click.option("--host", default=None, help=f"Address to listen on (HL7_INBOUND_HOST, else {DEFAULT_LISTEN_HOST}).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port (HL7_INBOUND_PORT).")
def listen_command(host: str | None, port: int | None) -> None:
    """Take ORM^O01 NW/CA and ADT^A01/A04/A08/A40 from an EHR and answer each with an ACK."""
    from webapp.hl7.listener import Listener

    app = current_app._get_current_object()
    host = host or app.config["HL7_INBOUND_HOST"]
    port = port if port is not None else app.config["HL7_INBOUND_PORT"]
    if port is None:
        raise click.UsageError("Give --port or set HL7_INBOUND_PORT.")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        server = Listener(app, host, port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None

    stopping = threading.Event()
    beating = heartbeats.keep_beating(app, "HL7 listener", heartbeats.instance_name(), stopping)

    def stop(_signum, _frame):
        stopping.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    watch_parent(lambda: stop(None, None))
    click.echo(f"HL7 listener on {host}:{server.server_address[1]} (ORM^O01 NW/CA, ADT^A01/A04/A08/A40). Ctrl-C stops it.")
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        stopping.set()
        beating.join(2)
    click.echo("HL7 listener stopped.")
