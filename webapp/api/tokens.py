"""POST /api/v1/auth/token: exchange a username and password for an expiring bearer token."""

from __future__ import annotations

from webapp.api.common import json_response, problems, resource_blueprint
from webapp.api.errors import ApiError
from webapp.api.schemas import TokenRequest, TokenResponse
from webapp.api.security import check_credentials, issue_token, public, token_lifetime, unauthorized
from webapp.auth.throttle import record_sign_in, sign_in_refusal
from webapp.extensions import db

api = resource_blueprint("auth", __name__, "/api/v1/auth", "Authentication", public=True)


@api.post("/token", responses={200: TokenResponse} | problems(401, 429))
@public
def create_token(body: TokenRequest):
    """A bearer token for Authorization: Bearer <token>; it expires after expires_in seconds.

    Failed attempts are throttled per username and per address, like the sign-in page (429).
    """
    refusal = sign_in_refusal(body.username)
    if refusal:
        db.session.rollback()
        raise ApiError(429, "Too many sign-in attempts", refusal.message, kind="throttled",
                       headers={"Retry-After": str(refusal.retry_after)})
    user = check_credentials(body.username, body.password)
    record_sign_in(body.username, succeeded=user is not None)
    db.session.commit()  # the attempt counts even though a failure answers 401
    if user is None:
        raise unauthorized("Wrong username or password, or the account is disabled.")
    return json_response(TokenResponse(access_token=issue_token(user), expires_in=token_lifetime()),
                         headers={"Cache-Control": "no-store"})
