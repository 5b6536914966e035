"""What an account that may not open orders (the wall display) receives on ``/stream``.

The wall only needs to know that its counts may have changed: it re-fetches its own page on
every event. So such an account gets counts-level events: the event id (for ``Last-Event-ID``),
the status, modality and priority with their values before the event (``from_*``), and no
order, patient or visit identity, no accession number.
Event types other than order changes are not sent to it at all.
"""

from __future__ import annotations

from typing import Any

from flask_sse import Message

from webapp.events.publishing import EVENT_TYPE

COUNTS_FIELDS = ("event_id", "status", "from_status", "modality", "from_modality", "priority", "from_priority")


def counts_signal(signal: dict[str, Any]) -> dict[str, Any]:
    counts = {name: signal.get(name) for name in COUNTS_FIELDS}
    if "spread_ms" in signal:  # how widely to spread the re-fetch (webapp.events.publishing): no identity
        counts["spread_ms"] = signal["spread_ms"]
    return counts


def counts_text(signal: dict[str, Any]) -> str:
    """A replayed signal as the display receives it."""
    return str(Message(counts_signal(signal), type=EVENT_TYPE, id=signal["event_id"]))


_UNSET = object()


def counts_message(message: Message) -> str | None:
    """A published message as the display receives it, or None. Every stream of a worker gets
    the same decoded message (stream._decoded): the text is made once and kept on it."""
    text = getattr(message, "_counts_text", _UNSET)
    if text is _UNSET:
        if message.type == EVENT_TYPE and isinstance(message.data, dict):
            text = str(Message(counts_signal(message.data), type=EVENT_TYPE, id=message.id))
        else:
            text = None
        message._counts_text = text
    return text
