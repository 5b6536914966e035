"""POST /api/v1/auth/token: exchange a username and password for an expiring bearer token."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from webapp.api import examples
from webapp.api.common import json_response, problems, resource_blueprint
from webapp.api.errors import ApiError
from webapp.api.schemas import InputModel, text
from webapp.api.security import issue_token, public, token_lifetime, unauthorized
from webapp.auth.signin import check_sign_in
from webapp.extensions import commit_keeping_state

api = resource_blueprint("auth", __name__, "/api/v1/auth", "Authentication", public=True)


class TokenRequest(InputModel):
    model_config = ConfigDict(extra="forbid", openapi_extra={"example": examples.TOKEN_REQUEST})

    username: text(64, min_length=1)
    password: text(256, min_length=1)


class TokenResponse(BaseModel):
    model_config = ConfigDict(openapi_extra={"example": examples.TOKEN_RESPONSE})

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.")


@api.post("/token", responses={200: TokenResponse} | problems(401, 429))
@public
def create_token(body: TokenRequest):
    """A bearer token for Authorization: Bearer <token>; it expires after expires_in seconds.

    Failed attempts are throttled per username and per address, like the sign-in page (429).
    """
    outcome = check_sign_in(body.username, body.password)
    if outcome.refusal:
        raise ApiError(429, "Too many sign-in attempts", outcome.refusal.message, kind="throttled",
                       headers={"Retry-After": str(outcome.refusal.retry_after)})
    commit_keeping_state()  # the attempt counts even though a failure answers 401
    user = outcome.user
    if user is None:
        raise unauthorized("Wrong username or password, or the account is disabled.")
    return json_response(TokenResponse(access_token=issue_token(user), expires_in=token_lifetime()),
                         headers={"Cache-Control": "no-store"})
