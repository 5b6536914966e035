"""The reading room (/api/v1): claiming a study to report, taking it over, co-signing a trainee's
report, peer review. The views parse, call webapp.reporting, commit once and answer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from webapp.api.common import expected_version, json_response, no_body_needed, problems, resource_blueprint
from webapp.api.orders import OrderOut, answer, committed
from webapp.api.schemas import IfMatchHeader, InputModel, OrderPath, limited
from webapp.api.security import api_user, requires
from webapp.audit import record_read
from webapp.auth.roles import Role
from webapp.extensions import commit_keeping_state, db
from webapp.imaging import queries, services
from webapp.reporting import claims, peer_review
from webapp.reporting import services as reporting_services

RADIOLOGIST = {Role.RADIOLOGIST}
TAKERS = {Role.RADIOLOGIST, Role.ADMIN}

room = resource_blueprint("reading_room", __name__, "/api/v1/imaging/orders", "Reading room")


class TakeOverIn(InputModel):
    reason: limited("reason")


class CosignIn(InputModel):
    """Edits the attending makes while co-signing; sections left out keep the trainee's text."""

    findings: limited("findings") | None = None
    impression: limited("impression") | None = None
    technique: limited("technique") | None = None
    comparison: limited("comparison") | None = None
    note: limited("note") | None = None


@room.post("/<uuid:id>/claim", responses={200: OrderOut} | problems(404, 409))
@requires(RADIOLOGIST)
@no_body_needed
def claim(path: OrderPath):
    """Claim a completed study to report it (or refresh your claim): the order's ``claimed_by``
    and ``claimed_at``. 409 while another radiologist's claim is active. No body needed."""
    order = queries.get_order(path.id, for_update=True, references=False)
    claims.claim(api_user(), order)
    commit_keeping_state()
    return answer(order)


@room.delete("/<uuid:id>/claim", responses={200: OrderOut} | problems(404))
@requires(RADIOLOGIST)
@no_body_needed
def release(path: OrderPath):
    """Give your claim back (nothing happens when you hold none)."""
    order = queries.get_order(path.id, for_update=True, references=False)
    claims.release(api_user(), order)
    commit_keeping_state()
    return answer(order)


@room.post("/<uuid:id>/claim/take-over", responses={200: OrderOut} | problems(404, 409))
@requires(TAKERS)
def take_over(path: OrderPath, body: TakeOverIn):
    """An attending radiologist (the claim becomes theirs) or an administrator (the study is freed)
    takes over a study another radiologist holds, with a reason: audited on the order's timeline."""
    order = queries.get_order(path.id, for_update=True, references=False)
    services.apply_action(api_user(), order, "take_over", reason=body.reason)
    return committed(order)


@room.post("/<uuid:id>/report/cosign", responses={200: OrderOut} | problems(404, 409, 412))
@requires(RADIOLOGIST)
@no_body_needed
def cosign(path: OrderPath, header: IfMatchHeader, body: CosignIn):
    """An attending radiologist co-signs a trainee's preliminary report (edits allowed, no claim
    needed): the report is final and the order ``reported``. 403 for a trainee; 409 without a
    preliminary report. A changed impression is flagged on the order (``impression_changed``)."""
    order = queries.get_order(path.id, for_update=True, references=False)
    edits = body.model_dump(exclude_unset=True)
    note = edits.pop("note", None)
    reporting_services.cosign_report(api_user(), order, edits, expected_version=expected_version(), note=note)
    return committed(order)


# ---------------------------------------------------------------------------- peer review

reviews_api = resource_blueprint("peer_reviews", __name__, "/api/v1/peer-reviews", "Reading room")


class PeerReviewIn(InputModel):
    score: Literal[peer_review.SCORES] = Field(description="RADPEER: 1 concur; 2a/2b understandable miss, 3a/3b "  # type: ignore[valid-type]
                                               "should be made most of the time; b likely clinically significant.")
    comment: limited("comment") | None = Field(None, description="Required for 2b, 3a and 3b.")


class PeerReviewOut(BaseModel):
    order_id: uuid.UUID
    accession_number: str
    reader: str
    reviewer: str
    score: str
    comment: str | None
    created_at: datetime


class PeerReviewList(BaseModel):
    items: list[PeerReviewOut]
    next_cursor: str | None


class PeerReviewQuery(BaseModel):
    limit: int = Field(50, ge=1, le=200)
    cursor: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,9}$")] | None = None
    qa: bool = Field(False, description="Only the reviews for the QA queue (2b, 3a, 3b).")


def review_out(row) -> PeerReviewOut:
    return PeerReviewOut(order_id=row.order_id, accession_number=row.order.accession_number,
                         reader=row.reader.display_name if row.reader else "", reviewer=row.reviewer.display_name
                         if row.reviewer else "", score=row.score, comment=row.comment, created_at=row.created_at)


@room.post("/<uuid:id>/peer-reviews", responses={201: PeerReviewOut} | problems(404, 409))
@requires(RADIOLOGIST)
def add_peer_review(path: OrderPath, body: PeerReviewIn):
    """Score another radiologist's signed report (RADPEER). 403 for one's own report, 409 for a
    second review of the study (or no signed report), 422 for 2b, 3a and 3b without a comment."""
    order = queries.get_order(path.id, for_update=True, references=False)
    row = peer_review.review(api_user(), order, body.score, body.comment)
    out = review_out(row)
    db.session.commit()
    return json_response(out, 201)


@reviews_api.get("", responses={200: PeerReviewList})
@requires({Role.ADMIN})
def list_peer_reviews(query: PeerReviewQuery):
    """Peer reviews, newest first (``qa=true``: the QA queue, 2b, 3a and 3b)."""
    rows = peer_review.listing(query.limit + 1, int(query.cursor) if query.cursor else None, query.qa)
    page, more = rows[: query.limit], len(rows) > query.limit
    record_read(api_user(), "peer reviews", [r.order.patient_id for r in page])
    return json_response(PeerReviewList(items=[review_out(r) for r in page],
                                        next_cursor=str(page[-1].id) if more else None))


APIS = (room, reviews_api)
