"""The MLLP listener of ``flask hl7 listen``: one thread per connection, many messages per connection.

Each message is handled in its own transaction (webapp.hl7.inbound) and answered with an ACK
before the next one is read; the order's live event is published after the commit like any other.
Its bytes are read in the character set MSH-18 names, and the ACK is written in the same set
(webapp.hl7.charset). A refusal written on an order's timeline is committed before the AE.
"""

from __future__ import annotations

import logging
import socketserver
import time

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from webapp.db_retry import run_in_transaction
from webapp.extensions import db, writing
from webapp.hl7 import charset, inbound
from webapp.hl7.ack import build_ack
from webapp.hl7.messages import Header
from webapp.hl7.mllp import END, START, FrameReader, MllpError
from webapp.hl7.refusal import BAD_VALUE

log = logging.getLogger(__name__)
IDLE_SECONDS = 300  # a connection that sends nothing for this long is closed
# Once a message has begun, all of it must arrive within HL7_FRAME_TIMEOUT_SECONDS: a sender that
# stops mid-frame used to hold its connection (and its thread) open for good.


def header_of(app: Flask) -> Header:
    config = app.config
    return Header(config["HL7_SENDING_APPLICATION"], config["HL7_SENDING_FACILITY"],
                  config["HL7_RECEIVING_APPLICATION"], config["HL7_RECEIVING_FACILITY"], zone=config["APP_TIMEZONE"])


def handle_message(app: Flask, text: str) -> str:
    """The ACK to one message: AA (with the accession number, or an ADT's MRN) once the change is
    committed, else AE/AR."""
    header = header_of(app)
    try:
        incoming = inbound.parse(text)
    except inbound.Refusal as refusal:
        return build_ack({}, refusal.code, refusal.text, header, error=refusal.error)
    ids = incoming.header()

    def attempt():
        try:
            answer = inbound.apply(incoming)
        except inbound.Refusal as refusal:
            if refusal.recorded:
                db.session.commit()  # the refusal's timeline entry; nothing else was changed
            raise
        db.session.commit()
        return answer

    with app.app_context(), writing():
        try:
            answer = run_in_transaction(attempt, "HL7 in")
        except inbound.Refusal as refusal:
            db.session.rollback()
            log.info("HL7 %s from %s answered %s: %s", ids["control_id"], ids["application"], refusal.code, refusal.text)
            return build_ack(ids, refusal.code, refusal.text, header, error=refusal.error)
        except SQLAlchemyError:
            db.session.rollback()
            log.exception("HL7 %s: database error", ids["control_id"])
            return build_ack(ids, "AE", "The order database could not record the message; send it again.", header)
    log.info("HL7 %s from %s: %s", ids["control_id"], ids["application"], answer)
    return build_ack(ids, "AA", "", header, accession_number=answer)


def answer_bytes(app: Flask, data: bytes) -> bytes:
    """The framed ACK to one message's bytes, read and answered in its MSH-18 character set."""
    try:
        decoded = charset.decode(data)
    except charset.CharsetError as exc:
        try:
            ids = inbound.parse(data.decode("latin-1")).header()
        except inbound.Refusal:
            ids = {}
        return START + charset.encode(build_ack(ids, "AR", str(exc), header_of(app), error=BAD_VALUE), "utf-8") + END
    return START + charset.encode(handle_message(app, decoded.text), decoded.codec) + END


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        app = self.server.app
        frame_seconds = float(app.config.get("HL7_FRAME_TIMEOUT_SECONDS", 10))
        reader = FrameReader()
        frame_deadline = None  # while a message is partly read
        while True:
            wait = IDLE_SECONDS if frame_deadline is None else max(0.05, frame_deadline - time.monotonic())
            self.request.settimeout(wait)
            try:
                data = self.request.recv(65536)
            except TimeoutError:
                if frame_deadline is not None:
                    log.warning("HL7 connection from %s closed: a message was not completed within %g s",
                                self.client_address[0], frame_seconds)
                return
            except OSError:
                return
            if not data:
                return
            try:
                messages = reader.feed(data)
            except MllpError:
                return
            if not reader.buffer:
                frame_deadline = None
            elif frame_deadline is None or messages:
                frame_deadline = time.monotonic() + frame_seconds
            for message in messages:
                answer = answer_bytes(app, message)
                try:
                    self.request.sendall(answer)
                except OSError:
                    return


class Listener(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, app: Flask, host: str, port: int) -> None:
        self.app = app
        super().__init__((host, port), _Handler)
