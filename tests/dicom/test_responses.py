"""Pending C-FIND responses written as finished P-DATA (webapp.dicom.responses): the same command
set bytes pynetdicom would encode, PDUs within the peer's maximum length that pynetdicom reads back
as one message each (combined or fragmented), deflated and small-PDU associations end to end, and
the sending stops on a C-CANCEL or a dead association."""

from __future__ import annotations

import queue
import zlib
from datetime import timedelta
from io import BytesIO
from types import SimpleNamespace

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import DeflatedExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.dimse_messages import C_FIND_RSP, DIMSEMessage
from pynetdicom.dimse_primitives import C_FIND
from pynetdicom.dsutils import encode
from pynetdicom.pdu import P_DATA_TF
from pynetdicom.sop_class import ModalityWorklistInformationFind

from tests.dicom.conftest import SERVICE_AE
from tests.dicom.test_worklist_scale import CT_HEAD, DAY, day_query
from webapp.dicom import responses
from webapp.dicom.responses import Outcome, command_set, response_primitives, send_pending

IDENTIFIER = bytes(range(256)) * 3  # 768 bytes standing for an encoded item


def test_the_command_set_is_the_one_pynetdicom_encodes():
    rsp = C_FIND()
    rsp.MessageIDBeingRespondedTo = 7
    rsp.AffectedSOPClassUID = ModalityWorklistInformationFind
    rsp.Status = 0xFF00
    rsp.Identifier = BytesIO(b"\x00\x00")
    message = C_FIND_RSP()
    message.primitive_to_message(rsp)
    assert command_set(ModalityWorklistInformationFind, 7) == encode(message.command_set, True, True)


def read_back(primitives) -> DIMSEMessage:
    """Decode the primitives as pynetdicom does as a peer: one message, complete at the last one."""
    message = DIMSEMessage()
    done = [message.decode_msg(primitive) for primitive in primitives]
    assert done == [False] * (len(done) - 1) + [True]
    return message


@pytest.mark.parametrize("max_length", [0, 16384, 800, 64])
def test_each_response_fits_the_peers_pdu_length_and_reads_back_whole(max_length):
    command = command_set(ModalityWorklistInformationFind, 3)
    primitives = response_primitives(1, command, IDENTIFIER, max_length)
    if max_length in (0, 16384):  # both PDVs, command and identifier, in one PDU
        assert len(primitives) == 1 and len(primitives[0].presentation_data_value_list) == 2
    else:  # as pynetdicom does: one PDV per PDU, the command's first; 800: each whole, 64: fragments
        assert all(len(p.presentation_data_value_list) == 1 for p in primitives)
        assert len(primitives) == 2 if max_length == 800 else len(primitives) > 2
    for primitive in primitives:
        pdu = P_DATA_TF()
        pdu.from_primitive(primitive)
        if max_length:
            assert len(pdu.encode()) - 6 <= max_length  # the PDU's variable field (PS3.8 D.1)
    message = read_back(primitives)
    assert message.command_set.Status == 0xFF00 and message.command_set.MessageIDBeingRespondedTo == 3
    assert message.data_set.getvalue() == IDENTIFIER


class FakeEvent:
    """What send_pending reads of pynetdicom's event, with a DUL queue nobody drains."""

    def __init__(self, cancel_after: int | None = None, established: bool = True, syntax=ImplicitVRLittleEndian):
        sent: queue.Queue = queue.Queue()
        self.assoc = SimpleNamespace(is_established=established, dimse=SimpleNamespace(maximum_pdu_size=16384),
                                     dul=SimpleNamespace(to_provider_queue=sent, send_pdu=sent.put))
        self.context = SimpleNamespace(context_id=1, transfer_syntax=syntax)
        self.request = SimpleNamespace(AffectedSOPClassUID=ModalityWorklistInformationFind, MessageID=5)
        self.checks, self.cancel_after = 0, cancel_after

    @property
    def is_cancelled(self) -> bool:
        self.checks += 1
        return self.cancel_after is not None and self.checks > self.cancel_after

    def sent(self) -> list:
        found = self.assoc.dul.to_provider_queue
        return [found.get() for _ in range(found.qsize())]


def test_a_cancel_stops_the_sending_between_batches():
    event = FakeEvent(cancel_after=1)
    assert send_pending(event, [IDENTIFIER] * 100) is Outcome.CANCELLED
    assert len(event.sent()) == responses.BATCH  # the first batch went, then the cancel was seen


def test_a_dead_association_stops_the_sending():
    event = FakeEvent(established=False)
    assert send_pending(event, [IDENTIFIER] * 10) is Outcome.CLOSED
    assert event.sent() == []


def test_deflated_contexts_get_deflated_identifiers():
    event = FakeEvent(syntax=DeflatedExplicitVRLittleEndian)
    assert send_pending(event, [IDENTIFIER]) is Outcome.SENT
    (primitive,) = event.sent()
    data = primitive.presentation_data_value_list[1][1]
    assert data[0] == responses.DATA_LAST and zlib.decompress(data[1:], -zlib.MAX_WBITS) == IDENTIFIER


@pytest.mark.parametrize("syntax, max_pdu", [(DeflatedExplicitVRLittleEndian, 16384), (ImplicitVRLittleEndian, 64)])
def test_a_scanner_reads_every_item_deflated_or_in_small_pdus(dicom_server, make_station, booked_order, syntax,
                                                              max_pdu):
    """pynetdicom as the scanner: a deflated context, and a maximum PDU length that makes every
    response go out in fragments; every item arrives whole, then the final success."""
    make_station("CT1", "CT", "CT suite")
    orders = [booked_order(DAY + timedelta(minutes=20 * n), "CT1", special_instructions="Prior CT on CD", **CT_HEAD)
              for n in range(3)]
    ae = AE(ae_title="PYSCU")
    ae.maximum_pdu_size = max_pdu
    ae.add_requested_context(ModalityWorklistInformationFind, [syntax])
    assoc = ae.associate("127.0.0.1", dicom_server, ae_title=SERVICE_AE)
    assert assoc.is_established
    query: Dataset = day_query("CT1")
    query.ScheduledProcedureStepSequence[0].CommentsOnTheScheduledProcedureStep = ""
    answers = list(assoc.send_c_find(query, ModalityWorklistInformationFind))
    assoc.release()
    assert [status.Status for status, _ in answers] == [0xFF00] * 3 + [0x0000]
    items = [item for _, item in answers[:3]]
    assert [str(item.AccessionNumber) for item in items] == [o.accession_number for o in orders]
    assert all(item.ScheduledProcedureStepSequence[0].CommentsOnTheScheduledProcedureStep == "Prior CT on CD"
               for item in items)
