"""The reading room (/api/v1): claiming a study to report, taking it over, co-signing a trainee's
report, peer review. The views parse, call webapp.reporting, commit once and answer."""

from __future__ import annotations

from webapp.api.common import expected_version, no_body_needed, problems, resource_blueprint
from webapp.api.orders import OrderOut, answer, committed
from webapp.api.schemas import IfMatchHeader, InputModel, OrderPath, limited
from webapp.api.security import api_user, requires
from webapp.auth.roles import Role
from webapp.extensions import commit_keeping_state
from webapp.imaging import queries, services
from webapp.reporting import claims
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


APIS = (room,)
