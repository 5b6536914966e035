"""POST /api/v1/auth/token: exchange a username and password for an expiring bearer token."""

from __future__ import annotations

from webapp.api.common import json_response, problems, resource_blueprint
from webapp.api.schemas import TokenRequest, TokenResponse
from webapp.api.security import check_credentials, issue_token, public, token_lifetime, unauthorized

api = resource_blueprint("auth", __name__, "/api/v1/auth", "Authentication", public=True)


@api.post("/token", responses={200: TokenResponse} | problems(401))
@public
def create_token(body: TokenRequest):
    """A bearer token for Authorization: Bearer <token>; it expires after expires_in seconds."""
    user = check_credentials(body.username, body.password)
    if user is None:
        raise unauthorized("Wrong username or password, or the account is disabled.")
    return json_response(TokenResponse(access_token=issue_token(user), expires_in=token_lifetime()),
                         headers={"Cache-Control": "no-store"})
