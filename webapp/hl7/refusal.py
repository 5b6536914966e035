"""An answer other than AA, and the error codes of HL7 table 0357 that ERR-3 carries."""

from __future__ import annotations

REQUIRED = "101^Required field missing^HL70357"
BAD_TYPE = "102^Data type error^HL70357"
BAD_VALUE = "103^Table value not found^HL70357"
UNSUPPORTED_TYPE = "200^Unsupported message type^HL70357"
UNSUPPORTED_EVENT = "201^Unsupported event code^HL70357"
UNSUPPORTED_VERSION = "203^Unsupported version id^HL70357"
UNKNOWN_KEY = "204^Unknown key identifier^HL70357"
INTERNAL = "207^Application internal error^HL70357"


class Refusal(Exception):
    """An answer other than AA: ``code`` AE (the content is wrong) or AR (not a message we take).

    ``recorded``: the refusal was written on an order's timeline (an event row), which the
    listener commits before answering; every other refusal is rolled back.
    """

    def __init__(self, code: str, text: str, error: str = INTERNAL, *, recorded: bool = False) -> None:
        super().__init__(text)
        self.code, self.text, self.error, self.recorded = code, text, error, recorded
