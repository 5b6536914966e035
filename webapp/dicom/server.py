"""The DICOM application entity: C-ECHO, Modality Worklist C-FIND and MPPS N-CREATE/N-SET.

pynetdicom runs each association in a thread of its own; every request opens its own Flask
application context (and so its own database session), and a failure in one request is
answered with a DICOM failure status without stopping the service.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask
from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import AE, evt
from pynetdicom.sop_class import (
    ModalityPerformedProcedureStep,
    ModalityWorklistInformationFind,
    Verification,
)
from pynetdicom.transport import ThreadedAssociationServer
from sqlalchemy.exc import SQLAlchemyError

from webapp.dicom import DEFAULT_AE_TITLE, DEFAULT_HOST, DEFAULT_PORT, mpps
from webapp.dicom.access import association_checks
from webapp.dicom.connections import LimitedServer, LimitedThreadedServer
from webapp.dicom.query import MalformedQuery, UnreadableIdentifier, parse_query
from webapp.dicom.responses import Outcome, send_pending
from webapp.dicom.values import LO, text
from webapp.dicom.worklist import find_items

log = logging.getLogger(__name__)

FIND_CANCELLED = 0xFE00
FIND_OUT_OF_RESOURCES = 0xA700  # PS3.4 Table K.4-1: the final status of an answer cut at the cap
FIND_IDENTIFIER_DOES_NOT_MATCH = 0xA900
FIND_IDENTIFIER_UNREADABLE = 0xC000
FIND_UNABLE_TO_PROCESS = 0xC001


def _calling_ae(event) -> str:
    return str(event.assoc.requestor.ae_title).strip()


def _failure(status: int, comment: str, tag: int | None = None) -> Dataset:
    ds = Dataset()
    ds.Status = status
    ds.ErrorComment = text(comment, LO)
    if tag is not None:
        ds.OffendingElement = [tag]
    return ds


def handle_echo(event) -> int:
    return 0x0000


def handle_find(event, app: Flask):
    """Modality Worklist C-FIND: one pending response per matching order, then success; or, past
    DICOM_WORKLIST_MAX_ITEMS, the first items and then A700 saying the answer is incomplete."""
    caller = _calling_ae(event)
    try:
        query = parse_query(event.identifier)
        syntax = UID(event.context.transfer_syntax)
        with app.app_context():
            answer = find_items(query, calling_ae=caller, implicit=syntax.is_implicit_VR,
                                little=syntax.is_little_endian)
    except UnreadableIdentifier as exc:
        log.warning("Worklist query from %s refused: %s", caller, exc)
        yield _failure(FIND_IDENTIFIER_UNREADABLE, str(exc), exc.tag), None
        return
    except MalformedQuery as exc:
        log.warning("Worklist query from %s refused: %s", caller, exc)
        yield _failure(FIND_IDENTIFIER_DOES_NOT_MATCH, str(exc), exc.tag), None
        return
    except SQLAlchemyError:
        log.exception("Worklist query from %s: database error", caller)
        yield _failure(FIND_UNABLE_TO_PROCESS, "The order database is not available."), None
        return
    except Exception as exc:  # a query we did not foresee must not stop the service
        log.exception("Worklist query from %s failed", caller)
        yield _failure(FIND_UNABLE_TO_PROCESS, f"Unable to process the query: {exc}"), None
        return
    station = f" (station {answer.station})" if answer.station else ""
    log.info("Worklist query from %s%s: %d item(s)%s", caller, station, len(answer.items),
             f", cut at {answer.limit}" if answer.truncated else "")
    # The pending responses go out as finished P-DATA (webapp.dicom.responses), the final one here.
    outcome = send_pending(event, answer.items)
    if outcome is Outcome.CANCELLED:
        yield FIND_CANCELLED, None
        return
    if outcome is Outcome.CLOSED:
        return
    if answer.truncated:
        yield _failure(FIND_OUT_OF_RESOURCES, f"More than {answer.limit} items match; the first {answer.limit} were "
                       "sent. Ask for a station or a time."), None


def handle_n_create(event, app: Flask):
    if event.request.AffectedSOPClassUID != ModalityPerformedProcedureStep:
        return _failure(0x0118, "Only Modality Performed Procedure Step instances are created here."), None
    uid = event.request.AffectedSOPInstanceUID
    return mpps.create(app, _calling_ae(event), str(uid) if uid else None, lambda: event.attribute_list)


def handle_n_set(event, app: Flask):
    if event.request.RequestedSOPClassUID != ModalityPerformedProcedureStep:
        return _failure(0x0118, "Only Modality Performed Procedure Step instances are updated here."), None
    uid = str(event.request.RequestedSOPInstanceUID)
    return mpps.update(app, _calling_ae(event), uid, lambda: event.modification_list)


def build_ae(app: Flask, ae_title: str = DEFAULT_AE_TITLE) -> AE:
    """The application entity; who may associate is checked on each request (``webapp.dicom.access``)."""
    ae = AE(ae_title=ae_title)
    for sop_class in (Verification, ModalityWorklistInformationFind, ModalityPerformedProcedureStep):
        ae.add_supported_context(sop_class)
    # The wait for an association request (and for a release): an idle connection is closed then.
    ae.acse_timeout = float(app.config.get("DICOM_ASSOCIATION_REQUEST_TIMEOUT", 5))
    ae.dimse_timeout = 30
    ae.network_timeout = 60
    ae.maximum_associations = int(app.config.get("DICOM_MAX_ASSOCIATIONS", 32))
    return ae


def event_handlers(app: Flask, ae_title: str = DEFAULT_AE_TITLE) -> list:
    return [
        *association_checks(ae_title, app.config.get("DICOM_ALLOWED_AE_TITLES") or []),
        (evt.EVT_C_ECHO, handle_echo),
        (evt.EVT_C_FIND, handle_find, [app]),
        (evt.EVT_N_CREATE, handle_n_create, [app]),
        (evt.EVT_N_SET, handle_n_set, [app]),
    ]


def start(
    app: Flask,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    ae_title: str = DEFAULT_AE_TITLE,
    *,
    block: bool = True,
) -> ThreadedAssociationServer | None:
    """Serve until stopped (``block``), or start in a thread and return the server (port 0: any free one).

    Either way the server limits the connections one peer may hold (``webapp.dicom.connections``)."""
    ae = build_ae(app, ae_title)
    server = ae.make_server((host, port), evt_handlers=event_handlers(app, ae_title),
                            server_class=LimitedServer if block else LimitedThreadedServer)
    server.max_per_peer = int(app.config.get("DICOM_MAX_CONNECTIONS_PER_PEER", 4))
    ae._servers.append(server)  # ae.shutdown() stops it, as with ae.start_server
    if not block:
        threading.Thread(target=server.serve_forever, name="AcceptorServer", daemon=True).start()
        return server
    try:
        server.serve_forever()  # **BLOCKING**
    except KeyboardInterrupt:
        server.shutdown()
    return None
