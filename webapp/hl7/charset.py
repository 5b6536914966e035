"""MSH-18, the character set of an incoming message (HL7 v2.5.1 section 2.15.9.18, table 0211).

The bytes of a message are read in the set MSH-18 names, and its ACK is written in the same set:

| MSH-18 | read as |
|---|---|
| empty | UTF-8 (what we send; bytes that are not UTF-8 become U+FFFD, as before MSH-18 was read) |
| `ASCII` | US-ASCII: a byte above 127 is refused (AR) |
| `8859/1` ... `8859/9`, `8859/15` | ISO 8859-1 ... -9, -15 |
| `UNICODE UTF-8` | UTF-8: bytes that are not UTF-8 are refused (AR) |

Any other value (table 0211's `UNICODE UTF-16`, `ISO IR87`, `GB 18030-2000`, ... or a misspelling)
is refused with AR, so a name is never stored misread ("M\\ufffdller"). MSH itself is ASCII in
every one of these sets, so MSH-18 is found before the message is decoded.
"""

from __future__ import annotations

from dataclasses import dataclass

# table 0211 value -> Python codec
CHARSETS = {
    "ASCII": "ascii",
    **{f"8859/{n}": f"iso8859_{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 15)},
    "UNICODE UTF-8": "utf-8",
}
DEFAULT = "utf-8"


class CharsetError(ValueError):
    """The message names a character set we do not read, or its bytes are not in that set."""


@dataclass(frozen=True)
class Decoded:
    text: str
    codec: str  # what the ACK is written in


def declared_charset(data: bytes) -> str:
    """MSH-18 as sent (first repetition, trimmed), read without decoding the rest."""
    segment = data.replace(b"\n", b"\r").split(b"\r", 1)[0]
    if not segment.startswith(b"MSH") or len(segment) < 4:
        return ""
    separator = segment[3:4]
    fields = segment.split(separator)
    # fields[0] is "MSH", fields[1] the encoding characters (MSH-2): MSH-n is fields[n - 1].
    value = fields[17] if len(fields) > 17 else b""
    repetition = fields[1][1:2] if len(fields) > 1 and len(fields[1]) > 1 else b"~"
    return value.split(repetition, 1)[0].decode("ascii", errors="replace").strip()


def decode(data: bytes) -> Decoded:
    """The message's text in the character set its MSH-18 names; CharsetError when we cannot read it."""
    declared = declared_charset(data)
    if not declared:
        return Decoded(data.decode(DEFAULT, errors="replace"), DEFAULT)
    codec = CHARSETS.get(declared.upper())
    if codec is None:
        raise CharsetError(f"MSH-18 character set {declared!r} is not read here; send UNICODE UTF-8, "
                           "8859/1 or ASCII.")
    try:
        return Decoded(data.decode(codec), codec)
    except UnicodeDecodeError as exc:
        raise CharsetError(f"The message is not {declared} as MSH-18 says (byte {exc.start}).") from None


def encode(text: str, codec: str) -> bytes:
    """An answer in the sender's character set (a character it cannot hold becomes "?")."""
    return text.encode(codec, errors="replace")
