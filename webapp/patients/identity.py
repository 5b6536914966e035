"""The one identity rule of every edge: is what arrived about this patient?

A patient is identified by the MRN (compared without regard to case) and a second identifier
that must agree: the family name, compared without accents, case, punctuation or spacing (every
Latin letter folds to its plain form through ``anyascii``: Ł→L, ø→o, æ→ae, ß→ss, đ→d), and the
birth date wherever both sides have it. A family name cut short by the worklist (DICOM LO holds
64 characters; ``webapp.dicom.values`` cuts on a word boundary and ends with ``...``) agrees
with the whole name it was cut from.

HL7 in (orders, cancels, ADT), PACS matching (automatic and manual), MPPS, the worklist and
registration all ask :func:`identity_mismatch`; none compares names or MRNs on its own.
Names are stored NFC (:func:`nfc`) so that "José" typed as one code point or as "e" plus a
combining accent is one spelling.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from anyascii import anyascii

CUT_MARK = "..."
_NOT_WORD = re.compile(r"[^0-9a-z]+")


def nfc(value: object) -> str:
    """Text in Unicode normal form C, trimmed ("" for None)."""
    return unicodedata.normalize("NFC", str(value or "")).strip()


def fold(value: object) -> str:
    """Text as compared and searched: plain Latin letters, lower case, single spaces.

    "Zoë Ångström-Ñúñez" → "zoe angstrom-nunez"; "ŁUKASZ" → "lukasz"; "Ærø" → "aero".
    """
    plain = anyascii(unicodedata.normalize("NFKC", str(value or "")))
    return " ".join(plain.casefold().split())


def name_token(value: object) -> str:
    """A name reduced to letters and digits only, for equality ("O'Brien-Smith" → "obriensmith")."""
    return _NOT_WORD.sub("", fold(value))


def mrn_key(value: object) -> str:
    """An MRN as compared: trimmed, any case ("casemrn1" and "CASEmrn1" are one MRN)."""
    return str(value or "").strip().casefold()


def mrns_agree(ours: object, theirs: object) -> bool:
    return bool(mrn_key(theirs)) and mrn_key(ours) == mrn_key(theirs)


def family_names_agree(ours: object, theirs: object) -> bool:
    """Does the family name sent (``theirs``) name our patient's family name (``ours``)?

    Equal once folded, or sent cut short with the worklist's ``...`` and the start of ours.
    """
    sent = str(theirs or "").strip()
    cut = sent.endswith(CUT_MARK)
    if cut:
        sent = sent[: -len(CUT_MARK)]
    want, got = name_token(ours), name_token(sent)
    if not got or not want:
        return False
    if want == got:
        return True
    return cut and want.startswith(got)


def whole_name_holds_family(ours: object, whole: object) -> bool:
    """A name sent in one piece ("Kwame Mensah") holds our family name among its words."""
    words = fold(whole).split()
    want = fold(ours).split()
    return bool(want) and any(words[i:i + len(want)] == want for i in range(len(words)))


def birth_dates_agree(ours: date | None, theirs: date | None) -> bool:
    """Equal where both sides have one; a side without a birth date does not disagree."""
    return ours is None or theirs is None or ours == theirs


@dataclass(frozen=True)
class Sent:
    """The identity an edge received: MRN, family name, birth date (each may be missing)."""

    mrn: str | None = None
    family_name: str | None = None
    birth_date: date | None = None


def identity_mismatch(patient, sent: Sent, *, require_name: bool = False) -> str | None:
    """Why ``sent`` is not ``patient`` (a sentence for the refusal), or None when it agrees.

    The MRN must agree when sent; the family name must agree when sent (and be sent at all with
    ``require_name``); the birth date must agree when both sides have one.
    """
    if sent.mrn is not None and not mrns_agree(patient.mrn, sent.mrn):
        return f"patient ID {sent.mrn} is not {patient.mrn}"
    if sent.family_name:
        if not family_names_agree(patient.last_name, sent.family_name):
            return f"family name {sent.family_name} is not {patient.last_name}"
    elif require_name:
        return "no family name was sent"
    if not birth_dates_agree(patient.date_of_birth, sent.birth_date):
        return f"birth date {sent.birth_date.isoformat()} is not {patient.date_of_birth.isoformat()}"
    return None
