"""The reading room (/api/v1): claiming a study to report, taking it over, co-signing a trainee's
report, peer review. The views parse, call webapp.reporting, commit once and answer."""

from __future__ import annotations

from webapp.api.common import no_body_needed, problems, resource_blueprint
from webapp.api.orders import OrderOut, answer, committed
from webapp.api.schemas import InputModel, OrderPath, limited
from webapp.api.security import api_user, requires
from webapp.auth.roles import Role
from webapp.extensions import commit_keeping_state
from webapp.imaging import queries, services
from webapp.reporting import claims

RADIOLOGIST = {Role.RADIOLOGIST}
TAKERS = {Role.RADIOLOGIST, Role.ADMIN}

room = resource_blueprint("reading_room", __name__, "/api/v1/imaging/orders", "Reading room")


class TakeOverIn(InputModel):
    reason: limited("reason")


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


APIS = (room,)
