"""How a page calls the service layer: a record or the 404 page, and one unit of work that is
committed, or rolled back with the service's refusal kept for the page to explain.

Services flush and never commit (webapp.imaging.services); the page commits once, here::

    with saving() as outcome:
        services.apply_action(current_user, order, action, expected_version=seen_version)
    if outcome.refused:  # ValidationFailed, StaleVersion, TransitionNotAllowed or StationConflict, rolled back
        ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import abort

from webapp.errors import (
    DowntimeOver,
    NotFound,
    ServiceError,
    StaleVersion,
    StationConflict,
    TransitionNotAllowed,
    ValidationFailed,
)
from webapp.extensions import db

T = TypeVar("T")

# What a page explains to the user (the form again with its errors, the order as it now is);
# any other service error is its status's error page (PermissionDenied: 403).
REFUSALS = (ValidationFailed, StaleVersion, TransitionNotAllowed, StationConflict, DowntimeOver)


def or_404(find: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """What ``find(*args, **kwargs)`` returns; its NotFound (no such record, no valid id) is the 404 page."""
    try:
        return find(*args, **kwargs)
    except NotFound:
        abort(404)


@dataclass
class Outcome:
    refused: ServiceError | None = None  # one of REFUSALS; None when the work was committed


@contextmanager
def saving() -> Iterator[Outcome]:
    """Commit the work done in the ``with`` block. A refusal (REFUSALS) rolls it back and is kept
    in the outcome; another service error rolls it back and aborts with its status."""
    outcome = Outcome()
    try:
        yield outcome
    except REFUSALS as refused:
        db.session.rollback()
        outcome.refused = refused
        return
    except ServiceError as error:
        db.session.rollback()
        abort(error.status)
    db.session.commit()


def discard() -> None:
    """End the request's transaction without saving anything (a form refused before any service
    was called): on SQLite the write lock is released before the page is rendered."""
    db.session.rollback()
