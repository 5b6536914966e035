"""Finding patients (and their orders) from what a person types: the one search of the app.

The patients page, ``GET /api/v1/patients?q=`` and the order lists (``/imaging/orders?q=``,
``GET /api/v1/imaging/orders?q=``) all use these conditions, so the same text finds the same
people everywhere:

- every word must match the first name, the last name or the MRN (in part, any case, without
  accents), so "Garcia, Maria", "maria garcia", "Garcia", "MRN100001" and "100001" all find Maria
  Garcia, and "angstrom", "ÅNGSTRÖM" and "Zoe Angstrom" find Zoë Ångström-Ñúñez. Words and names
  are folded alike (webapp.patients.identity.fold) and the words are matched against the
  patient's stored, indexed ``search_key``, so SQLite and PostgreSQL answer the same (SQLite's
  ``lower()`` folds ASCII only; nothing here relies on the database to fold);
- for orders (``webapp.imaging.queries``), the text may also be an accession or order number,
  whole or its beginning ("ACC-2026-000"), or just the number of the year's sequence ("00040"
  or "40" finds ACC-YYYY-00040 of every year that has orders).
"""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, and_, false, select

from webapp.patients.identity import fold
from webapp.patients.models import Patient

MAX_QUERY_LENGTH = 100
MAX_WORDS = 5
_WORD_SPLIT = re.compile(r"[\s,;]+")


def search_words(text: str | None) -> list[str]:
    """The words of a search, folded (no accents, no case), without LIKE wildcards; at most ``MAX_WORDS``."""
    cleaned = fold((text or "").strip()[:MAX_QUERY_LENGTH])
    for wildcard in ("%", "_", "\\"):
        cleaned = cleaned.replace(wildcard, "")
    return [word for word in _WORD_SPLIT.split(cleaned) if word][:MAX_WORDS]


def patient_matches(text: str | None) -> ColumnElement[bool] | None:
    """A condition on ``Patient`` for the search text; None when there is nothing to search."""
    words = search_words(text)
    if not words:
        return None
    return and_(*(Patient.search_key.like(f"%{word}%") for word in words))


def matching_patient_ids(text: str | None):
    """A subquery of the ids of the patients the text finds (for ``IN``)."""
    condition = patient_matches(text)
    return select(Patient.id).where(condition if condition is not None else false())

