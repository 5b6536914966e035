"""Bounds on who can hold the DICOM service's connections (before any AE title is known).

pynetdicom refuses an association once ``maximum_associations`` are open, counting connections
that have not sent an A-ASSOCIATE-RQ yet, and waits ``acse_timeout`` for that request. Twelve
idle TCP connections (no credentials needed, the AE allow list never consulted) used to lock
every scanner out for 30 s, repeatably. Now:

- one peer address holds at most ``DICOM_MAX_CONNECTIONS_PER_PEER`` open connections; a further
  one is closed as soon as it is accepted (logged with the address);
- a connection must send its association request within ``DICOM_ASSOCIATION_REQUEST_TIMEOUT``
  seconds (the ACSE timeout), else it is closed;
- the service as a whole takes ``DICOM_MAX_ASSOCIATIONS`` at once.
"""

from __future__ import annotations

import logging

from pynetdicom.transport import AssociationServer, ThreadedAssociationServer

log = logging.getLogger(__name__)


class PeerLimit:
    """``verify_request`` of socketserver: refuse a peer that holds its share already."""

    max_per_peer: int = 4

    def verify_request(self, request, client_address) -> bool:
        peer = client_address[0] if isinstance(client_address, tuple) else str(client_address)
        held = sum(1 for assoc in self.active_associations if assoc.requestor.address == peer)
        if held >= self.max_per_peer:
            log.warning("DICOM connection from %s closed: it holds %d connections already (limit %d)",
                        peer, held, self.max_per_peer)
            return False
        return True


class LimitedServer(PeerLimit, AssociationServer):
    """The blocking server (``flask worklist serve``)."""


class LimitedThreadedServer(PeerLimit, ThreadedAssociationServer):
    """The server in a thread of its own (tests, and callers that go on)."""
