"""Bearer PAT authentication with scopes: one decorator for every REST route."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request

from api.context import caledee, read_unit, shared_reads, write_unit
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
    """Check the bearer token and its scopes; returns the user id and records it on ``g``.

    The check is a read unit, which the view's read units share (``shared_reads``): a write unit (BEGIN
    IMMEDIATE on SQLite) would queue every request behind the writers. Use is recorded at most once a
    minute, in a write unit of its own.

    An address past its failed logins gets 429 before its token is looked at (``LoginThrottle``); the
    address is the connection's (REMOTE_ADDR): behind a proxy, the operator sets forwarded headers up.
    """
    throttle = caledee().login_throttle
    address = request.remote_addr or ""
    throttle.check(address)
    secret = bearer_token()
    with read_unit() as session:
        token = accounts.find_token(session, secret)
        if token is None:
            throttle.record_failure(address)
            raise Unauthorized("The access token is invalid, revoked or expired.")
        missing = [s for s in scopes if s not in (token.scopes or [])]
        if missing:
            raise Forbidden(f"The access token lacks the scope(s) {', '.join(missing)}.")
        stale = accounts.token_needs_touch(token)
    if stale:
        with write_unit() as session:
            accounts.touch_token_id(session, token.id)
    g.caledee_user_id = token.user_id
    return token.user_id


def require_scopes(*scopes: str) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with shared_reads():
                authenticate_request(*scopes)
                return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
