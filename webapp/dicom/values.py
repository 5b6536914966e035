"""Turning the order database's values into valid DICOM values (VR limits, PN form)."""

from __future__ import annotations

import re

# Control characters (ESC included: we declare UTF-8, no code extensions) and the VM delimiter.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]+")
_PN_DELIMITERS = re.compile(r"[\^=]+")
_TITLES = {"dr", "dr.", "prof", "prof.", "mr", "mr.", "mrs", "mrs.", "ms", "ms.", "mx", "mx."}

# Longest value, in characters, of the value representations the worklist uses.
SH, LO, LT, PN_COMPONENT = 16, 64, 10240, 64
# What ends a description cut short. ASCII, so that it fits every character set we answer in.
CUT_MARK = "..."


def _single_line(value: object) -> str:
    return "" if value is None else " ".join(_UNSAFE.sub(" ", str(value)).split())


def text(value: object, limit: int) -> str:
    """A single-line string value: no backslash or control characters, at most ``limit`` characters."""
    return _single_line(value)[:limit].rstrip()


def summary(value: object, limit: int) -> str:
    """Like ``text``, for prose: a value too long is cut after a whole word and ends with ``CUT_MARK``."""
    cleaned = _single_line(value)
    if len(cleaned) <= limit:
        return cleaned
    room = limit - len(CUT_MARK)
    head = cleaned[:room]
    if cleaned[room] != " ":  # the cut falls inside a word: drop that word, unless it is most of the value
        last_space = head.rfind(" ")
        if last_space >= room // 2:
            head = head[:last_space]
    return head.rstrip() + CUT_MARK


def _component(value: object) -> str:
    return text(_PN_DELIMITERS.sub(" ", str(value or "")), PN_COMPONENT)


def person_name(family: object, given: object = "", middle: object = "", prefix: object = "") -> str:
    """A DICOM PN value ``Family^Given^Middle^Prefix`` with empty trailing components dropped."""
    components = [_component(family), _component(given), _component(middle), _component(prefix)]
    while components and not components[-1]:
        components.pop()
    # PN allows 64 characters per component group; shorten the longest parts until it fits. A part
    # cut short ends with CUT_MARK, so what comes back (MPPS) is known to be the start of a name
    # (webapp.patients.identity.family_names_agree).
    while len("^".join(components)) > PN_COMPONENT:
        longest = max(range(len(components)), key=lambda i: len(components[i]))
        kept = components[longest].removesuffix(CUT_MARK)
        components[longest] = kept[:-1].rstrip() + CUT_MARK
    return "^".join(components)


def person_name_from_full(full_name: object) -> str:
    """A PN value from a display name such as "Dr. Amara Okafor" (→ ``Okafor^Amara^^Dr.``)."""
    words = _component(full_name).split()
    prefix = []
    while len(words) > 1 and words[0].lower() in _TITLES:
        prefix.append(words.pop(0))
    if not words:
        return ""
    family = words.pop()
    return person_name(family, " ".join(words), "", " ".join(prefix))
