"""Characters no field accepts, checked before any view (API and pages) sees a request.

- NUL: PostgreSQL cannot store it in text.
- The other C0 control characters but tab, line feed and carriage return, and DEL: among them
  MLLP's framing bytes (VT 0x0B starts a message, FS 0x1C ends it: HL7 v2.5.1 Appendix C), which
  would cut an outbound HL7 message in two.
- Unicode's bidirectional embedding, override and isolate controls (U+202A-U+202E,
  U+2066-U+2069): they reorder how the rest of a line is shown ("Trojan Source",
  CVE-2021-42574), so a name or a note could read differently from what it holds. Arabic and
  Hebrew text needs none of them.
- Line breaks and tabs in one-line fields (names, MRN, codes, user names): a ``\\r`` in a name
  ends an HL7 segment.
"""

from __future__ import annotations

import re

NUL_MESSAGE = "Must not contain NUL characters."
CONTROL_MESSAGE = "Must not contain control characters (such as VT or FS) or bidirectional overrides."
LINE_MESSAGE = "Must be one line (no line breaks or tabs)."

_CONTROL = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAK = re.compile("[\t\n\r\x85\u2028\u2029]")

# Fields whose value is one line wherever they appear (API bodies and page forms).
ONE_LINE_FIELDS = frozenset({
    "mrn", "first_name", "last_name", "full_name", "username", "code", "accession_number", "order_number",
    "station_ae", "ae_title", "room", "modality", "body_part", "procedure_code", "sex", "laterality", "priority",
})


def problem(name: str, value: str) -> str | None:
    """What is wrong with ``value`` of the field ``name`` (its last dotted part counts), or None."""
    if "\x00" in value:
        return NUL_MESSAGE
    if _CONTROL.search(value):
        return CONTROL_MESSAGE
    if name.rsplit(".", 1)[-1] in ONE_LINE_FIELDS and _LINE_BREAK.search(value):
        return LINE_MESSAGE
    return None


def first_problem(value, location: str = "") -> tuple[str, str] | None:
    """(where, what) of the first bad string in a parsed JSON value, or None."""
    if isinstance(value, str):
        found = problem(location, value)
        return (location or "body", found) if found else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return (location or "body", NUL_MESSAGE)
        found = first_problem(item, f"{location}.{key}" if location else str(key))
        if found:
            return found
    return None
