"""What we send as the order filler (issue 21): received by hl7apy's MLLP server (tests/hl7/peers.py).

- MSH-5/6: the receiving application and facility (HL7_RECEIVING_APPLICATION/_FACILITY).
- PID-3.4: the assigning authority the EHR sent in its PID-3, kept; ours (MSH-4) for our patients.
- OBR-24: a value of HL7 v2.5.1 table 0074 (Diagnostic Service Section ID), checked against
  hl7apy's own copy of the table.
- ORC-12/OBR-16: XCN ``id^family^given``: the provider id (NPI) when the account has one, and no
  title ("Dr.") in the given name.
"""

from __future__ import annotations

import pytest
from hl7apy.v2_5_1.tables import TABLES

from tests.hl7.peers import field
from tests.hl7.test_inbound import orm
from webapp.hl7.mapping import DIAGNOSTIC_SECTION
from webapp.imaging.reference import MODALITIES


@pytest.fixture
def app_config(receiver_port, outbox_settings):
    return {"HL7_OUTBOUND": [f"127.0.0.1:{receiver_port}"], "HL7_RECEIVING_APPLICATION": "EPIC",
            "HL7_RECEIVING_FACILITY": "GENERAL", **outbox_settings}


def test_an_ehr_order_goes_back_with_its_issuer_receiver_section_and_provider(app, receiver, make_user,
                                                                              run_dispatchers):
    from webapp.hl7.listener import handle_message

    make_user("doctor", username="drhouse", full_name="Dr. Gregory House", provider_id="1497758544")
    ack = handle_message(app, orm(provider="1497758544^House^Gregory"))
    assert "|AA|" in ack, ack
    run_dispatchers()
    message = receiver.wait_for(1)[0]
    assert (field(message, "MSH", 5), field(message, "MSH", 6)) == ("EPIC", "GENERAL")
    assert field(message, "PID", 3) == "EHR555^^^GENERAL^MR"
    assert field(message, "OBR", 24) == "RX"  # XRAY: table 0074 "Radiograph"
    assert field(message, "ORC", 12) == "1497758544^House^Gregory"
    assert field(message, "OBR", 16) == "1497758544^House^Gregory"


def test_our_own_patient_goes_out_under_our_assigning_authority(app, receiver, make_order, run_dispatchers):
    order = make_order()
    run_dispatchers()
    message = receiver.wait_for(1)[0]
    assert field(message, "PID", 3).split("^")[3] == "RADIOLOGY"  # HL7_SENDING_FACILITY
    assert field(message, "ORC", 3) == order.accession_number
    # No provider id: the user name, then family and given name without a prefix.
    assert field(message, "ORC", 12).split("^")[0] != ""
    assert "Dr." not in field(message, "ORC", 12)


@pytest.mark.sqlite_only
def test_every_modality_has_a_table_0074_section():
    allowed = set(TABLES["HL70074"][1])
    assert {code for code, *_ in MODALITIES} <= set(DIAGNOSTIC_SECTION)
    assert set(DIAGNOSTIC_SECTION.values()) <= allowed
