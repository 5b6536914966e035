"""Peer review of signed reports, scored as the ACR's RADPEER program scores them.

RADPEER (American College of Radiology, RADPEER scoring, 2016 revision): a radiologist who reads a
study that has an earlier report by another radiologist scores that report:

* ``1``: concur with the interpretation;
* ``2``: discrepancy in interpretation, not ordinarily expected to be made (an understandable miss);
* ``3``: discrepancy in interpretation, should be made most of the time;

with ``a`` (unlikely to be clinically significant) or ``b`` (likely to be clinically significant)
for scores 2 and 3. Scores 2b, 3a and 3b need a comment and go to the QA queue, for an
administrator (the department's QA committee) to look at.

Which reports are offered: ``PEER_REVIEW_PERCENT`` percent (default 5) of each radiologist's
signed reports, chosen by a hash of the order's id (stable: the same reports stay offered; every
radiologist's reports are sampled at the same rate), to every radiologist but the report's own
readers. Any other radiologist's signed report may be reviewed too. One review per study: the
unique key of ``peer_reviews.order_id`` refuses a second (409), whoever writes at the same moment.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.auth.roles import Role
from webapp.errors import PermissionDenied, TransitionNotAllowed, ValidationFailed
from webapp.extensions import db
from webapp.imaging.models import ImagingOrder
from webapp.imaging.rules import clean_text
from webapp.reporting.models import PeerReview

SCORES = ("1", "2a", "2b", "3a", "3b")
NEEDS_COMMENT = frozenset({"2b", "3a", "3b"})  # and these go to the QA queue
DISCREPANCIES = frozenset({"2a", "2b", "3a", "3b"})
OFFER_WINDOW = 500  # the latest signed reports looked at for the queue


class AlreadyReviewed(TransitionNotAllowed, title="This report has been peer reviewed already", kind="duplicate"):
    """A second review of one study (409)."""


def readers(order: ImagingOrder) -> set:
    """Who wrote the report: the signer and, for a co-signed report, the trainee."""
    people = {order.reporting_radiologist}
    details = order.report_details
    if details is not None and details.preliminary_by:
        people.add(details.preliminary_by)
    return {p for p in people if p}


def is_offered(order_id) -> bool:
    """Whether this signed report is in the sample (PEER_REVIEW_PERCENT of each reader's reports)."""
    percent = current_app.config.get("PEER_REVIEW_PERCENT", 5)
    bucket = int.from_bytes(hashlib.sha256(str(order_id).encode()).digest()[:4], "big") % 100
    return bucket < percent


def review(user, order: ImagingOrder, score: Any, comment: Any) -> PeerReview:
    """Score another radiologist's signed report. Flushes, never commits."""
    if getattr(user, "role", None) != Role.RADIOLOGIST:
        raise PermissionDenied("Only radiologists peer review reports.")
    if order.status != "reported":
        raise TransitionNotAllowed(f"Order {order.accession_number} has no signed report to review.")
    if user.id in readers(order):
        raise PermissionDenied("Nobody peer reviews their own report.")
    errors: dict[str, str] = {}
    if score not in SCORES:
        errors["score"] = f"One of {', '.join(SCORES)} (RADPEER)."
    comment = clean_text(comment, "comment", errors)
    if score in NEEDS_COMMENT and not comment:
        errors["comment"] = "Scores 2b, 3a and 3b need a comment: say what was missed or misread."
    if errors:
        raise ValidationFailed(errors)
    row = PeerReview(order_id=order.id, reader_id=order.reporting_radiologist, reviewer_id=user.id,
                     modality=order.modality, score=score, comment=comment)
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        raise AlreadyReviewed(f"The report of order {order.accession_number} has been peer reviewed already.") from None
    return row


def offered_to(user, limit: int = 50) -> list[ImagingOrder]:
    """The sampled signed reports this radiologist may review (others' reports, not reviewed yet), newest first."""
    reviewed = select(PeerReview.order_id)
    rows = db.session.execute(
        select(ImagingOrder).where(ImagingOrder.status == "reported", ImagingOrder.id.not_in(reviewed))
        .order_by(ImagingOrder.reported_date.desc()).limit(OFFER_WINDOW)
    ).unique().scalars()
    return [o for o in rows if is_offered(o.id) and user.id not in readers(o)][:limit]


def listing(limit: int, before_id: int | None = None, qa_only: bool = False) -> list[PeerReview]:
    statement = select(PeerReview).order_by(PeerReview.id.desc()).limit(limit)
    if before_id is not None:
        statement = statement.where(PeerReview.id < before_id)
    if qa_only:
        statement = statement.where(PeerReview.score.in_(NEEDS_COMMENT))
    return list(db.session.scalars(statement))


def discrepancy_rates() -> list[dict]:
    """Per reader and modality: reviews, discrepancies (2a-3b) and significant ones (2b, 3a, 3b)."""
    counts: dict = defaultdict(lambda: {"reviews": 0, "discrepancies": 0, "significant": 0})
    names = {}
    for row in db.session.scalars(select(PeerReview)):
        key = (row.reader_id, row.modality)
        names[row.reader_id] = row.reader.display_name if row.reader else str(row.reader_id)
        counts[key]["reviews"] += 1
        counts[key]["discrepancies"] += row.score in DISCREPANCIES
        counts[key]["significant"] += row.score in NEEDS_COMMENT
    result = []
    for (reader_id, modality), figures in counts.items():
        result.append({"reader": names[reader_id], "modality": modality, **figures,
                       "rate": figures["discrepancies"] / figures["reviews"]})
    return sorted(result, key=lambda r: (r["reader"], r["modality"]))
