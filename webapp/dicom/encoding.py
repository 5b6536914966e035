"""A worklist answer encoded straight to DICOM bytes (PS3.5 section 7: data elements, VR, length;
7.5: sequences and items of defined length), for the association's transfer syntax.

``Shape`` is what the scanner asked for, read once per query: the keys of each level, a sequence
key with an item of keys asking for those, an empty one for whole items (PS3.4 C.2.2.1.3).
``answer_bytes`` turns one item's plain values (webapp.dicom.items) into the identifier's final
bytes; ``webapp.dicom.responses`` sends them as pending C-FIND responses.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset

from webapp.dicom.items import CHARACTER_SET, LATIN_1, LEVELS

SPECIFIC_CHARACTER_SET = 0x00080005
# Explicit VR: these take 2 reserved bytes and a 4-byte length (PS3.5 Table 7.1-1).
LONG_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV"}
ASCII_VRS = {"AE", "AS", "CS", "DA", "DT", "TM", "UI", "DS", "IS"}
CODECS = {CHARACTER_SET: "utf-8", LATIN_1: "latin-1"}
ALL = None  # a sequence key asking for whole items


@dataclass(frozen=True)
class Key:
    tag: int
    vr: str
    items: tuple[Key, ...] | None = ALL  # for a sequence: the keys of its items, or ALL


def shape_of(identifier: Dataset) -> tuple[Key, ...]:
    """The return keys of a query identifier (or of one of its sequence items), in tag order."""
    keys = []
    for element in identifier:
        tag = element.tag
        if tag.group in (0x0000, 0x0002) or tag.is_private or tag == SPECIFIC_CHARACTER_SET:
            continue
        items = ALL
        if element.VR == "SQ" and element.value and len(element.value) == 1 and len(element.value[0]):
            items = shape_of(element.value[0])
        keys.append(Key(int(tag), element.VR or "UN", items))
    return tuple(sorted(keys, key=lambda key: key.tag))


class Encoder:
    """Values to bytes in one transfer syntax and character set."""

    def __init__(self, implicit: bool, little: bool, charset: str) -> None:
        self.implicit, self.little, self.charset = implicit, little, charset
        self.codec = CODECS[charset]
        self.order = "<" if little else ">"

    def header(self, tag: int, vr: str, length: int) -> bytes:
        group, element = tag >> 16, tag & 0xFFFF
        if self.implicit:
            return struct.pack(self.order + "HHI", group, element, length)
        if vr in LONG_VRS:
            return struct.pack(self.order + "HH2sHI", group, element, vr.encode(), 0, length)
        return struct.pack(self.order + "HH2sH", group, element, vr.encode(), length)

    def value(self, vr: str, value: Any) -> bytes:
        """A non-sequence value's bytes, padded to an even length (PS3.5 6.2)."""
        if value is None or value == "":
            return b""
        if vr == "US":
            return struct.pack(self.order + "H", int(value))
        if vr == "DS" and not isinstance(value, str):
            value = f"{float(value):.6g}"[:16]
        data = str(value).encode("ascii" if vr in ASCII_VRS else self.codec)
        if len(data) % 2:
            data += b"\x00" if vr == "UI" else b" "
        return data

    def items(self, values: list[Mapping[int, Any]], level: int, keys: tuple[Key, ...] | None) -> bytes:
        out = []
        for item in values:
            body = self.level(item, level, keys)
            out.append(struct.pack(self.order + "HHI", 0xFFFE, 0xE000, len(body)) + body)
        return b"".join(out)

    def level(self, values: Mapping[int, Any], level: int | None, keys: tuple[Key, ...] | None) -> bytes:
        """One item's (or the top level's) elements, the asked keys only, in tag order."""
        return b"".join(self.header(tag, vr, len(data)) + data for tag, vr, data in self.elements(values, level, keys))

    def elements(self, values: Mapping[int, Any], level: int | None, keys: tuple[Key, ...] | None):
        attributes = LEVELS[level]
        if keys is ALL:
            keys = tuple(Key(tag, attribute.vr) for tag, attribute in sorted(attributes.items()))
        for key in keys:
            attribute = attributes.get(key.tag)
            if attribute is None or key.tag not in values:
                yield key.tag, key.vr, b""  # asked for, not offered: empty (PS3.4 C.2.2.1.3)
            elif attribute.vr == "SQ":
                yield key.tag, "SQ", self.items(values[key.tag], key.tag, key.items)
            else:
                yield key.tag, attribute.vr, self.value(attribute.vr, values[key.tag])

    def answer(self, values: Mapping[int, Any], keys: tuple[Key, ...]) -> bytes:
        """The whole identifier: Specific Character Set and the asked keys, in tag order."""
        elements = list(self.elements(values, None, keys))
        elements.append((SPECIFIC_CHARACTER_SET, "CS", self.charset.encode("ascii")))
        elements.sort(key=lambda element: element[0])  # stable: the keys are in tag order already
        return b"".join(self.header(tag, vr, len(data)) + data for tag, vr, data in elements)


def answer_bytes(values: Mapping[int, Any], keys: tuple[Key, ...], *, latin1: bool, implicit: bool,
                 little: bool = True) -> bytes:
    """One item answering ``keys``, as the identifier's bytes: in Latin-1 when the scanner asked for
    it and every value fits, else in UTF-8 (ISO_IR 192)."""
    if latin1:
        try:
            return Encoder(implicit, little, LATIN_1).answer(values, keys)
        except UnicodeEncodeError:
            pass
    return Encoder(implicit, little, CHARACTER_SET).answer(values, keys)


def asks_for_latin1(requested: Dataset) -> bool:
    """The query declares ISO_IR 100 (Latin-1) as its one character set."""
    from pydicom.multival import MultiValue

    value = requested.get("SpecificCharacterSet")
    values = [str(v).strip() for v in (value if isinstance(value, MultiValue) else [value]) if v is not None]
    return values == [LATIN_1]
