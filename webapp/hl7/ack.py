"""Acknowledgements: checking a receiver's ACK (python-hl7) and building ours (hl7apy)."""

from __future__ import annotations

from datetime import UTC, datetime

import hl7
from hl7apy.core import Message

from webapp.hl7 import VERSION
from webapp.hl7.messages import Header, er7, escape


class Rejected(Exception):
    """The receiver answered, but not AA/CA for this message: the delivery failed (it is retried)."""


def check_ack(answer: str, control_id: str) -> None:
    """Accept an ACK whose MSA-1 is AA (or CA) and whose MSA-2 is ``control_id``; else raise Rejected."""
    try:
        message = hl7.parse(answer.replace("\n", "\r"))
        msa = message.segment("MSA")
    except (KeyError, ValueError, IndexError, hl7.ParseException):
        raise Rejected(f"not an HL7 acknowledgement: {answer[:120]!r}") from None
    code = str(msa(1)).strip()
    answered = str(msa(2)).strip()
    if answered != control_id:
        raise Rejected(f"acknowledgement for message {answered!r}, not {control_id!r}")
    if code not in ("AA", "CA"):
        text = str(msa(3)).strip() if len(msa) > 3 else ""
        if not text:
            try:
                text = str(message.segment("ERR")(8)).strip()
            except (KeyError, IndexError):
                text = ""
        raise Rejected(f"{code or 'no code'}: {text or 'no reason given'}")


def build_ack(
    incoming: dict[str, str], code: str, text: str, header: Header, *,
    accession_number: str | None = None, error: str = "207^Application internal error^HL70357",
) -> str:
    """ACK to an incoming message (``incoming``: its MSH-3/4/10/9 values): MSA-1 ``code`` (AA, AE, AR),
    MSA-3 ``text``; with AA, the accession number is in MSA-3 and ERR is left out; otherwise ERR-3
    is ``error`` (HL7 table 0357) and ERR-8 the whole text."""
    message = Message("ACK", version=VERSION)
    message.msh.msh_3 = escape(header.sending_application)
    message.msh.msh_4 = escape(header.sending_facility)
    message.msh.msh_5 = escape(incoming.get("application", ""))
    message.msh.msh_6 = escape(incoming.get("facility", ""))
    message.msh.msh_7 = datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")
    trigger = incoming.get("trigger") or "O01"
    message.msh.msh_9 = f"ACK^{escape(trigger)}^ACK"
    message.msh.msh_10 = f"ACK{incoming.get('control_id', '')}"[:199] or "ACK"
    message.msh.msh_11 = "P"
    message.msa.msa_1 = code
    message.msa.msa_2 = escape(incoming.get("control_id", ""))
    message.msa.msa_3 = escape((accession_number or text)[:80])
    if code != "AA":
        err = message.add_segment("ERR")
        err.err_3 = error
        err.err_4 = "E"
        err.err_8 = escape(text)
    return er7(message)
