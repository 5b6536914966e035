"""Issue 26 item 1: an addendum reaches the EHR as ORU^R01 with OBR-25 C (HL7 v2.5.1 table 0123:
"C — record coming over is a correction and thus replaces a final result"), the addendum as OBX.
Received by hl7apy's MLLP server (tests/hl7/peers.py), not by our own code."""

from __future__ import annotations

from tests.hl7.conftest import outbox_rows
from tests.hl7.peers import field
from webapp.extensions import db, writing


def test_an_addendum_sends_a_corrected_oru(app, receiver, make_order, run_dispatchers):
    from webapp.auth.models import User
    from webapp.imaging.models import ImagingOrder
    from webapp.reporting import services

    order = make_order("reported")
    with app.app_context(), writing():
        saved = db.session.get(ImagingOrder, order.id)
        radiologist = db.session.get(User, saved.reporting_radiologist)
        services.add_addendum(radiologist, saved, "Also a rib fracture.", critical_flag=True,
                              critical_note="Rib fracture with pneumothorax")
        db.session.commit()
    rows = outbox_rows(app)
    assert [row.kind for row in rows][-2:] == ["ORU^R01 F", "ORU^R01 C"]
    run_dispatchers()
    messages = receiver.wait_for(6)
    corrected = messages[-1]
    assert field(corrected, "MSH", 9).startswith("ORU^R01") and field(corrected, "OBR", 25) == "C"
    obx = [line.split("|") for line in corrected.split("\r") if line.startswith("OBX|")]
    assert [line[3].split("^")[0] for line in obx] == ["19005-8", "18782-3", "ADDENDUM"]
    assert obx[2][5].startswith("Also a rib fracture.") and all(line[11] == "C" for line in obx)
