"""Bearer PAT authentication with scopes: one decorator for every REST route."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request

from api.context import caledee, read_unit, shared_reads, write_unit
from api.rate_limits import NEEDS_TOKEN, count_address, count_token
from caldee_dav.calendars import accounts
from caldee_dav.errors import Forbidden, Unauthorized

F = TypeVar("F", bound=Callable[..., Any])


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("Send a personal access token as `Authorization: Bearer pat_...`.")
    return value.strip()


def authenticate_request(*scopes: str) -> str:
    """Check the bearer token and its scopes; returns the user id and records it (and the token's id)
    on ``g``. The request is counted against the token's rate limit once the token is known good, and
    against the client address's when it has none that is (``api.rate_limits``).

    The check is a read unit, which the view's read units share (``shared_reads``): a write unit (BEGIN
    IMMEDIATE on SQLite) would queue every request behind the writers. Use is recorded at most once a
    minute, in a write unit of its own. Tokens are looked up on every request (no cache), so a revoked
    token is refused at once by every server process.

    An address past its failed logins gets 429 before its token is looked at (``LoginThrottle``); the
    address is the connection's (REMOTE_ADDR): behind a proxy, the operator sets forwarded headers up.
    """
    throttle = caledee().login_throttle
    address = request.remote_addr or ""
    throttle.check(address)
    try:
        secret = bearer_token()
    except Unauthorized:
        count_address()
        raise
    with read_unit() as session:
        token = accounts.find_token(session, secret)
        if token is None:
            throttle.record_failure(address)
            count_address()
            raise Unauthorized("The access token is invalid, revoked or expired.")
        token_id, user_id = token.id, token.user_id
        missing = [s for s in scopes if s not in (token.scopes or [])]
        stale = accounts.token_needs_touch(token)
    count_token(token_id)
    if missing:
        raise Forbidden(f"The access token lacks the scope(s) {', '.join(missing)}.")
    if stale:
        with write_unit() as session:
            accounts.touch_token_id(session, token_id)
    g.caledee_user_id = user_id
    g.caledee_token_id = token_id
    return user_id


def require_scopes(*scopes: str) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with shared_reads():
                authenticate_request(*scopes)
                return view(*args, **kwargs)

        setattr(wrapper, NEEDS_TOKEN, True)  # api.rate_limits: counted per token, not per address
        return wrapper  # type: ignore[return-value]

    return decorate
