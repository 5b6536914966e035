"""Keyset paging, the one home of every list's cursor: newest first by (moment, id).

The order list (pages and API), the API's patient and visit lists page this way. A cursor is the
(moment, id) of the last row shown, base64url JSON; the client sends it back for the next page,
so it is checked like any input.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import UTC, datetime

from sqlalchemy import and_, or_
from werkzeug.routing import IntegerConverter

from webapp.errors import ValidationFailed
from webapp.extensions import db

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
FIRST_YEAR, LAST_YEAR = 1900, 2200  # the years a filter or cursor can mean (and the database store)
# Every serial id of the schema (events, critical results, studies, outbox messages) is an
# ``integer``: PostgreSQL refuses a larger value with an error, so no route may pass one on.
MAX_DB_ID = 2**31 - 1


class DbIdConverter(IntegerConverter):
    """``<id:name>`` in a route: a serial id of the schema (1 .. MAX_DB_ID); anything else is 404."""

    def __init__(self, url_map, *args, **kwargs) -> None:
        super().__init__(url_map, min=1, max=MAX_DB_ID)


def db_id(text: str | None) -> int | None:
    """A serial id given as text (a form field, a cursor), or None when it cannot be one."""
    text = (text or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        return None
    value = int(text)
    return value if 1 <= value <= MAX_DB_ID else None


def encode_cursor(moment: datetime, key: uuid.UUID) -> str:
    raw = json.dumps([moment.isoformat(), str(key)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (moment, id) a cursor of ``encode_cursor`` holds; anything else raises ValidationFailed.

    An aware moment in the years the database stores (``0001-01-01T00:00:00+14:00`` is year 0
    in UTC), an id that is a UUID string.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        moment, key = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(moment, str) or not isinstance(key, str):
            raise ValueError
        parsed = datetime.fromisoformat(moment)
        if parsed.tzinfo is None or not FIRST_YEAR <= parsed.astimezone(UTC).year <= LAST_YEAR:
            raise ValueError
        return parsed, uuid.UUID(key)
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed({"cursor": "Not a cursor this server gave out."}) from None


def keyset_page(statement, moment, key, *, cursor: str | None, limit: int) -> tuple[list, str | None]:
    """A page of ``statement``'s rows, newest first by the columns (``moment``, ``key``), after the
    row ``cursor`` names, and the cursor of the next page (None on the last)."""
    if cursor:
        after_moment, after_key = decode_cursor(cursor)
        statement = statement.where(
            # The plain bound lets an index seek to the cursor; the OR alone is only a filter
            # (a page 90% into a long list read every row before it: bench/, scenario 1).
            moment <= after_moment,
            or_(moment < after_moment, and_(moment == after_moment, key < after_key)),
        )
    statement = statement.order_by(moment.desc(), key.desc()).limit(limit + 1)
    rows = list(db.session.execute(statement).unique().scalars())
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(getattr(last, moment.key), getattr(last, key.key))
