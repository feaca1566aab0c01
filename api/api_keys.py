"""``/api/v2/api-keys``: the caller's own personal access tokens, managed with a token holding
``manage:api-keys``. A key is shown in full once, in the create answer; lists show a masked prefix.
A revoked key is refused from the next request on, by every server process (tokens are looked up on
each request, never cached)."""

from __future__ import annotations

from flask import Blueprint, Response

from api.auth import require_scopes
from api.body import json_body
from api.context import current_token_id, read_unit, write_unit
from api.schemas.api_keys import ApiKeyCreatedOut, ApiKeyIn, ApiKeyOut
from api.schemas.common import json_response, list_response, no_content
from caldee_dav.calendars import accounts

bp = Blueprint("api_keys", __name__)
SCOPE = "manage:api-keys"


@bp.get("/api-keys")
@require_scopes(SCOPE)
def list_api_keys() -> Response:
    with read_unit() as session:
        keys = accounts.list_api_keys(session, current_token_id())
    return list_response([ApiKeyOut.from_summary(key) for key in keys])


@bp.post("/api-keys")
@require_scopes(SCOPE)
def create_api_key() -> Response:
    body = json_body(ApiKeyIn)
    with write_unit() as session:
        issued = accounts.issue_api_key(
            session,
            current_token_id(),
            name=body.name,
            scopes=body.scopes,
            expires_days=body.expires_in_days,
        )
    out = ApiKeyCreatedOut.from_issued(issued)
    response = json_response(out, 201, location=f"/api/v2/api-keys/{issued.id}")
    response.headers["Cache-Control"] = "no-store"  # the secret must not stay in any cache
    return response


@bp.delete("/api-keys/<key_id>")
@require_scopes(SCOPE)
def revoke_api_key(key_id: str) -> Response:
    with write_unit() as session:
        accounts.revoke_api_key(session, current_token_id(), key_id)
    return no_content()
