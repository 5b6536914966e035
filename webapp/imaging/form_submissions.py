"""The order form places one order per form, however often it is sent (a double click, a resent
page, two submissions at the same moment).

The form carries a token, signed for the doctor and the visit (a day at most): its one-time part
(the nonce) is the primary key of an ``OrderFormSubmission`` row, inserted in the same transaction
as the order. A second submission of the form finds that row and is given the first one's order.
Two at the same moment: the second's insert waits for the first's transaction (the primary key),
then fails; it is then given the order the first one committed.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.exc import IntegrityError

from webapp.errors import ServiceError
from webapp.extensions import db
from webapp.imaging import queries, services
from webapp.imaging.models import ImagingOrder, OrderFormSubmission

TOKEN_MAX_AGE = 24 * 3600  # seconds


class SubmissionInProgress(ServiceError, status=409, title="Form sent twice", kind="conflict"):
    """The same form was sent again while the first submission has not placed its order."""


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="imaging-order-form")


def new_token(user, visit) -> str:
    """A token for one order form of this user for this visit."""
    return _serializer().dumps([str(user.id), str(visit.id), secrets.token_urlsafe(18)])


def token_nonce(token: str | None, user, visit) -> str | None:
    """The one-time part of a token this server issued to this user for this visit (a day at most);
    None for any other token (forged, expired, another user's or another visit's)."""
    try:
        user_id, visit_id, nonce = _serializer().loads(token or "", max_age=TOKEN_MAX_AGE)
    except (BadSignature, ValueError, TypeError):
        return None
    if user_id != str(user.id) or visit_id != str(visit.id):
        return None
    return nonce


def _earlier_order(nonce: str) -> ImagingOrder | None:
    """The order an earlier submission of this form placed; SubmissionInProgress when that one has
    not placed it."""
    earlier = db.session.get(OrderFormSubmission, nonce)
    if earlier is None:
        return None
    if earlier.order_id is None:
        raise SubmissionInProgress("This form is being sent already. Wait a moment, then open the order.")
    return queries.get_order(earlier.order_id)


def place_once(user, visit, nonce: str, **values: Any) -> ImagingOrder:
    """The order of this form (services.create_order with ``values``, from ``visit``): placed now,
    or the one an earlier submission of the same form placed. Flushes, does not commit."""
    earlier = _earlier_order(nonce)
    if earlier is not None:
        return earlier
    submission = OrderFormSubmission(token=nonce, user_id=user.id)
    try:
        with db.session.begin_nested():  # a failed insert rolls back to here, not the whole transaction
            db.session.add(submission)
    except IntegrityError:
        # The same form is being sent at this very moment (double click): it has waited for it.
        earlier = _earlier_order(nonce)
        if earlier is None:
            raise SubmissionInProgress("This form is being sent already.") from None
        return earlier
    order = services.create_order(user, patient_id=visit.patient_id, visit_id=visit.id, **values)
    submission.order_id = order.id
    db.session.flush()
    return order
