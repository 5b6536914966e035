"""ORM^O01 and ORU^R01 (HL7 v2.5.1) built with hl7apy from an order snapshot (webapp.hl7.snapshot).

Identifiers: ORC-2/OBR-2 the placer number (the EHR's own when the order came from it, else our
order number), ORC-3/OBR-3 and OBR-18 the accession number (filler), PID-3 the MRN, PV1-19 the
visit number, OBR-4 the procedure code (CPT-4) and name. MSH-10 is the outbox message id, so a
message sent again carries the same control id.

A value the change took away (an unbooking's booked time, an undone start's start time, a side
removed by an edit) is sent as the null value ``""``, not left empty: "If no value is sent (i.e., it
is omitted) the old value should remain unchanged. If the null value is sent, the old value should
be changed to null" (HL7 v2.5.1 chapter 2, section 2.5.3); a component likewise (OBR-27.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from hl7apy.core import Message

from webapp.hl7 import VERSION
from webapp.hl7.mapping import (
    ADDENDUM_CODE,
    CONTROL_REASONS,
    DEFAULT_DIAGNOSTIC_SECTION,
    DIAGNOSTIC_SECTION,
    FINDINGS_CODE,
    IMPRESSION_CHANGED_CODE,
    IMPRESSION_CODE,
    ORDER_STATUS,
    PRIORITY_CODES,
    SEX_CODES,
)

NAME_PREFIXES = {"dr", "prof", "mr", "mrs", "ms", "miss", "mx"}
_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))
# Line breaks stand as this (a private-use character) until the text is made: hl7apy would escape
# the backslashes of \.br\ in a TX field.
_LINE_BREAK = "\ue000"
NULL = '""'  # HL7's null value: the receiver deletes the value it holds


def escape(text: str | None) -> str:
    """Text as one HL7 component: delimiters escaped, line breaks kept for :func:`er7`."""
    value = (text or "").replace(_LINE_BREAK, "")
    for char, sequence in _ESCAPES:
        value = value.replace(char, sequence)
    return _LINE_BREAK.join(value.replace("\r\n", "\n").replace("\r", "\n").split("\n"))


def er7(message: Message) -> str:
    """The message's text (segments end with CR), line breaks as the \\.br\\ escape."""
    return message.to_er7().replace(_LINE_BREAK, "\\.br\\")


@dataclass(frozen=True)
class Header:
    """MSH-3 to MSH-6 and the clinic's time zone for timestamps."""

    sending_application: str = "IMAGINGORDERS"
    sending_facility: str = "RADIOLOGY"
    receiving_application: str = ""
    receiving_facility: str = ""
    zone: str = "UTC"


def timestamp(value: str | None, zone: str) -> str:
    """An ISO date or datetime (UTC) as an HL7 TS in the clinic's zone, with its offset."""
    if not value:
        return ""
    if len(value) == 10:
        return date.fromisoformat(value).strftime("%Y%m%d")
    return datetime.fromisoformat(value).astimezone(ZoneInfo(zone)).strftime("%Y%m%d%H%M%S%z")


def _msh(message: Message, header: Header, kind: str, control_id: str, at: str | None) -> None:
    message.msh.msh_3 = escape(header.sending_application)
    message.msh.msh_4 = escape(header.sending_facility)
    message.msh.msh_5 = escape(header.receiving_application)
    message.msh.msh_6 = escape(header.receiving_facility)
    message.msh.msh_7 = timestamp(at, header.zone)
    message.msh.msh_9 = kind
    message.msh.msh_10 = control_id
    message.msh.msh_11 = "P"
    message.msh.msh_18 = "UNICODE UTF-8"


def _pid_pv1(patient_group, visit_group: str, snapshot: dict, header: Header) -> None:
    patient = snapshot["patient"]
    pid = patient_group.pid
    pid.pid_1 = "1"
    # PID-3.4: the assigning authority the EHR named (kept from its PID-3), else ours.
    issuer = patient.get("mrn_issuer") or header.sending_facility
    pid.pid_3 = f"{escape(patient['mrn'])}^^^{escape(issuer)}^MR"
    pid.pid_5 = f"{escape(patient['last_name'])}^{escape(patient['first_name'])}"
    pid.pid_7 = timestamp(patient["date_of_birth"], header.zone)
    pid.pid_8 = SEX_CODES.get(patient["sex"], "U")
    segment = patient_group.add_group(visit_group).pv1
    segment.pv1_1 = "1"
    segment.pv1_2 = "O"
    segment.pv1_19 = escape(snapshot["visit"]["number"])
    segment.pv1_44 = timestamp(snapshot["visit"]["date"], header.zone)


def _provider(person: dict | None) -> str:
    """XCN ``id^family^given``: the provider id (else user name), and the name cut at its last word
    with any title ("Dr.") left out of the given name."""
    if not person:
        return ""
    words = person["name"].split()
    while len(words) > 1 and words[0].rstrip(".").casefold() in NAME_PREFIXES:
        words = words[1:]
    family = words[-1] if words else ""
    given = " ".join(words[:-1])
    return f"{escape(person.get('provider_id') or person['id'])}^{escape(family)}^{escape(given)}"


def _value(snapshot: dict, name: str, value: str) -> str:
    """``value``, or the null value when the change took the order's ``name`` away."""
    return NULL if not value and name in snapshot.get("cleared", ()) else value


def _order_status(snapshot: dict) -> str:
    """ORC-5: the status (table 0038); none for an order waiting to be booked, and the null value
    when it has just gone back to waiting (unbooked), so the receiver forgets the SC it holds."""
    status = ORDER_STATUS.get(snapshot["status"], "")
    return NULL if not status and ORDER_STATUS.get(snapshot.get("from_status") or "") else status


def _orc(orc, snapshot: dict, control: str, header: Header) -> None:
    orc.orc_1 = control
    orc.orc_2 = escape(snapshot["placer_number"])
    orc.orc_3 = escape(snapshot["accession_number"])
    orc.orc_5 = _order_status(snapshot)
    orc.orc_9 = timestamp(snapshot["at"], header.zone)
    orc.orc_12 = _provider(snapshot["ordering_provider"])


def _obr(obr, snapshot: dict, header: Header) -> None:
    obr.obr_1 = "1"
    obr.obr_2 = escape(snapshot["placer_number"])
    obr.obr_3 = escape(snapshot["accession_number"])
    code = snapshot["procedure_code"] or f"{snapshot['modality']}-{snapshot['body_part']}"
    name = snapshot["procedure_name"] or f"{snapshot['modality']} {snapshot['body_part']}"
    obr.obr_4 = f"{escape(code)}^{escape(name)}^{'C4' if snapshot['procedure_code'] else 'L'}"
    obr.obr_6 = timestamp(snapshot["ordered_date"], header.zone)
    obr.obr_7 = _value(snapshot, "performed_date", timestamp(snapshot["performed_date"], header.zone))
    obr.obr_16 = _provider(snapshot["ordering_provider"])
    obr.obr_18 = escape(snapshot["accession_number"])
    obr.obr_19 = escape(snapshot["order_number"])
    obr.obr_24 = DIAGNOSTIC_SECTION.get(snapshot["modality"], DEFAULT_DIAGNOSTIC_SECTION)
    booked = _value(snapshot, "scheduled_date", timestamp(snapshot["scheduled_date"], header.zone))
    obr.obr_27 = f"^^^{booked}^^{PRIORITY_CODES[snapshot['priority']]}"
    obr.obr_31 = f"^{escape(snapshot['clinical_indication'])}"
    if booked:
        obr.obr_36 = booked  # scheduled date/time: the booked time again, where receivers look for it
    side = _value(snapshot, "laterality", escape((snapshot["laterality"] or "").upper()))
    if side:
        obr.obr_46 = side


def build_orm(snapshot: dict, control: str, control_id: str, header: Header) -> str:
    """ORM^O01: ORC-1 ``control`` (NW, XO, SC, CA), ORC-5 the order's status."""
    message = Message("ORM_O01", version=VERSION)
    _msh(message, header, "ORM^O01^ORM_O01", control_id, snapshot["at"])
    _pid_pv1(message.add_group("ORM_O01_PATIENT"), "ORM_O01_PATIENT_VISIT", snapshot, header)
    order = message.add_group("ORM_O01_ORDER")
    _orc(order.orc, snapshot, control, header)
    detail = order.add_group("ORM_O01_ORDER_DETAIL")
    _obr(detail.add_segment("OBR"), snapshot, header)
    if snapshot["diagnosis"]:
        dg1 = detail.add_segment("DG1")
        dg1.dg1_1 = "1"
        dg1.dg1_3 = f"{escape(snapshot['diagnosis']['code'])}^{escape(snapshot['diagnosis']['description'])}^I10"
        dg1.dg1_6 = "W"
    reason = _control_reason(snapshot)
    if reason:
        order.orc.orc_16 = f"^{escape(reason)}"
    return er7(message)


def _control_reason(snapshot: dict) -> str | None:
    """ORC-16 order control code reason, the text of "the reason for the order event" (HL7 v2.5.1
    4.5.1.16): a cancel's, an unbooking's or a late booking's reason; an undone start says so,
    with the technician's note."""
    if snapshot.get("event_type") in CONTROL_REASONS:
        note = snapshot.get("note")
        return f"{CONTROL_REASONS[snapshot['event_type']]}: {note}" if note else CONTROL_REASONS[snapshot["event_type"]]
    if "reason" in snapshot:
        return snapshot["reason"]
    # Written before the snapshot kept its event's reason (still in the outbox when updated).
    return snapshot["cancellation_reason"] if snapshot["status"] == "cancelled" else None


def build_oru(snapshot: dict, result_status: str, control_id: str, header: Header) -> str:
    """ORU^R01: OBR-25 ``result_status`` (F final, C corrected: an addendum), impression, findings
    and each addendum as OBX."""
    message = Message("ORU_R01", version=VERSION)
    _msh(message, header, "ORU^R01^ORU_R01", control_id, snapshot["at"])
    result = message.add_group("ORU_R01_PATIENT_RESULT")
    _pid_pv1(result.add_group("ORU_R01_PATIENT"), "ORU_R01_VISIT", snapshot, header)
    observation = result.add_group("ORU_R01_ORDER_OBSERVATION")
    _orc(observation.orc, snapshot, "RE", header)
    _obr(observation.obr, snapshot, header)
    observation.obr.obr_22 = timestamp(snapshot["reported_date"] or snapshot["at"], header.zone)
    observation.obr.obr_25 = result_status
    if snapshot["radiologist"]:
        observation.obr.obr_32 = _provider(snapshot["radiologist"]).replace("^", "&")
    texts = [(IMPRESSION_CODE, snapshot["impression"]), (FINDINGS_CODE, snapshot["findings"])]
    if snapshot.get("impression_changed_from"):
        texts.append((IMPRESSION_CHANGED_CODE, f"Preliminary impression was: {snapshot['impression_changed_from']}"))
    texts += [(ADDENDUM_CODE, f"{a['text']} ({a['author']}, {timestamp(a['created_at'], header.zone)[:12]})")
              for a in snapshot.get("addenda") or ()]
    for index, (code, text) in enumerate(texts, start=1):
        obx = observation.add_group("ORU_R01_OBSERVATION").obx
        obx.obx_1 = str(index)
        obx.obx_2 = "TX"
        obx.obx_3 = "^".join(code)
        obx.obx_5 = escape(text)
        obx.obx_11 = result_status
    # A structured (MRRT) template's coded answers: OBX-2 CWE, OBX-3 the field (its code where
    # the template gives one, else its id, local), OBX-5 the answer's code^text^coding system.
    for index, answer in enumerate(snapshot.get("coded") or (), start=len(texts) + 1):
        obx = observation.add_group("ORU_R01_OBSERVATION").obx
        obx.obx_1 = str(index)
        obx.obx_2 = "CWE"
        field_code = answer.get("field_code")
        obx.obx_3 = (f"{escape(field_code['code'])}^{escape(answer['label'])}^{escape(field_code['scheme'])}"
                     if field_code else f"{escape(answer['field'])}^{escape(answer['label'])}^L")
        code = answer["code"]
        obx.obx_5 = f"{escape(code['code'])}^{escape(code['meaning'] or answer['answer'])}^{escape(code['scheme'])}"
        obx.obx_11 = result_status
    return er7(message)


def build_message(kind: str, snapshot: dict, control_id: str, header: Header) -> str:
    """The ER7 text of an outbox message of ``kind`` ("ORM^O01 NW", "ORU^R01 F", ...)."""
    message_type, code = kind.split(" ")
    if message_type == "ORU^R01":
        return build_oru(snapshot, code, control_id, header)
    return build_orm(snapshot, code, control_id, header)
