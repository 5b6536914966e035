"""Pending C-FIND responses handed to the DICOM Upper Layer as finished P-DATA (PS3.7 9.1.2 and
9.3.2, the C-FIND-RSP command; PS3.8 9.3.5 and Annex E, P-DATA-TF PDUs and their PDVs).

Why: pynetdicom, given a (status, identifier) per pending response, builds a pydicom command set
Dataset for each (six attributes set, the group length computed), encodes it and the identifier
with pydicom, renders the identifier as text for its log even when the log is off
(``_config.LOG_RESPONSE_IDENTIFIERS``), and sends the command and the identifier as two PDUs.
Profiled over a 1,000-item answer that was about 1.4 ms of CPU per item, most of the answer's cost
(bench/README.md, "The worklist at scale on its own").

What is done instead, for the pending responses only (the final one still goes through pynetdicom):

* the command set of a pending response is the same for every item of one answer (Affected SOP
  Class UID and Message ID Being Responded To from the request, Command Field 8020H, a data set
  present, Status FF00H), so it is encoded once per answer, Implicit VR Little Endian (PS3.7 6.3.1);
* each identifier comes already encoded for the presentation context's transfer syntax
  (``webapp.dicom.encoding``; deflated here when the context is deflated);
* each response is one P-DATA request primitive with two PDVs, the command's last fragment and the
  identifier's, when both fit in the peer's maximum PDU length (PS3.8 9.3.5 allows several PDVs in
  one P-DATA-TF; never two messages in one, which pynetdicom as a peer would not read); otherwise
  the message is fragmented exactly as pynetdicom does, one PDV per PDU.

The primitives go through pynetdicom's DUL (``dul.send_pdu``) like every other message, so the
state machine still sends each PDU, in order, and the final response queued after them goes out
last. The backlog is bounded (``BACKLOG`` primitives) so that a C-CANCEL is seen between batches
and an association that dies stops the sending.
"""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Sequence
from enum import Enum

from pydicom.uid import UID
from pynetdicom.pdu_primitives import P_DATA

PENDING = 0xFF00
C_FIND_RSP = 0x8020
DATA_SET_PRESENT = 0x0001  # Command Data Set Type: anything but 0101H; pynetdicom sends 0001H
BATCH = 32  # responses queued between two checks for a C-CANCEL
BACKLOG = 128  # P-DATA primitives waiting in the DUL at most
# PS3.8 E.2, the Message Control Header: bit 0 command/data set, bit 1 last fragment.
DATA_MORE, COMMAND_MORE, DATA_LAST, COMMAND_LAST = 0x00, 0x01, 0x02, 0x03
PDV_OVERHEAD = 6  # item length (4), presentation context ID (1), message control header (1)


class Outcome(Enum):
    SENT = "sent"
    CANCELLED = "cancelled"  # a C-CANCEL arrived: the handler answers FE00
    CLOSED = "closed"  # the association ended while sending


def _element(tag: int, data: bytes) -> bytes:
    return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(data)) + data


def command_set(sop_class_uid: str, message_id: int, status: int = PENDING) -> bytes:
    """A C-FIND-RSP command set with a data set, Implicit VR Little Endian (PS3.7 Table 9.3-2)."""
    uid = str(sop_class_uid).encode("ascii")
    if len(uid) % 2:
        uid += b"\x00"
    body = (_element(0x00000002, uid)  # Affected SOP Class UID
            + _element(0x00000100, struct.pack("<H", C_FIND_RSP))  # Command Field
            + _element(0x00000120, struct.pack("<H", message_id))  # Message ID Being Responded To
            + _element(0x00000800, struct.pack("<H", DATA_SET_PRESENT))  # Command Data Set Type
            + _element(0x00000900, struct.pack("<H", status)))  # Status
    return _element(0x00000000, struct.pack("<I", len(body))) + body  # Command Group Length


def _fragments(data: bytes, more: int, last: int, max_length: int) -> list[bytes]:
    """PDV values (control header + fragment), each fitting a PDU of ``max_length`` on its own."""
    size = max_length - PDV_OVERHEAD
    pieces = [data[start:start + size] for start in range(0, len(data), size)] or [b""]
    return [bytes([more]) + piece for piece in pieces[:-1]] + [bytes([last]) + pieces[-1]]


def response_primitives(context_id: int, command: bytes, identifier: bytes, max_length: int) -> list[P_DATA]:
    """One response as P-DATA request primitives; ``max_length`` is the peer's maximum PDU length
    (its PDV list, PS3.8 D.1), 0 for no limit."""
    if max_length == 0 or len(command) + len(identifier) + 2 * PDV_OVERHEAD <= max_length:
        primitive = P_DATA()
        primitive.presentation_data_value_list = [[context_id, bytes([COMMAND_LAST]) + command],
                                                  [context_id, bytes([DATA_LAST]) + identifier]]
        return [primitive]
    found = []
    for value in (_fragments(command, COMMAND_MORE, COMMAND_LAST, max_length)
                  + _fragments(identifier, DATA_MORE, DATA_LAST, max_length)):
        primitive = P_DATA()
        primitive.presentation_data_value_list = [[context_id, value]]
        found.append(primitive)
    return found


def deflate(data: bytes) -> bytes:
    """Deflated Explicit VR Little Endian: the data set through raw deflate (PS3.5 A.5), as
    pynetdicom's own encoder does it."""
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def _room(assoc) -> bool:
    """Wait until the DUL's queue is short again; False when the association has ended."""
    queue = assoc.dul.to_provider_queue
    while queue.qsize() > BACKLOG:
        if not assoc.is_established:
            return False
        time.sleep(0.001)  # as pynetdicom polls its own queues
    return assoc.is_established


def send_pending(event, identifiers: Sequence[bytes]) -> Outcome:
    """Send each identifier as a pending C-FIND response to the request of ``event`` (pynetdicom's
    EVT_C_FIND), in order; the handler then yields only the final status."""
    assoc, context = event.assoc, event.context
    command = command_set(event.request.AffectedSOPClassUID, event.request.MessageID)
    deflated = UID(context.transfer_syntax).is_deflated
    max_length = int(assoc.dimse.maximum_pdu_size or 0)
    for index, identifier in enumerate(identifiers):
        if index % BATCH == 0:
            if event.is_cancelled:
                return Outcome.CANCELLED
            if not _room(assoc):
                return Outcome.CLOSED
        for primitive in response_primitives(int(context.context_id), command,
                                             deflate(identifier) if deflated else identifier, max_length):
            assoc.dul.send_pdu(primitive)
    return Outcome.SENT
