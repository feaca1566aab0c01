"""Rate limits of the REST API: every /api/v2 answer (and a booking page's) tells the client its limit in
``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (Unix seconds); a request
over the limit gets 429 with ``Retry-After`` and the contract's error body.

Who is counted: a request to a route that takes a token is counted by ``api.auth`` once the token is
known good (per token: one client's many addresses share its limit); one without a valid token, and
every request to a route that takes none (public booking, the contract), per client address
(``request.remote_addr``: the connection's, or the proxies' ``X-Forwarded-For`` with
``trusted_proxies``, as for failed logins). Failed logins keep their own, stricter counter.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, g, request

from api.context import caledee
from caldee_dav.calendars.request_limits import WindowCount, refuse

API_PREFIX = "/api/v2"
# Set on a view by ``api.auth.require_scopes``: the view counts its requests once the token is checked.
NEEDS_TOKEN = "caledee_needs_token"
# Blueprints outside /api/v2 whose answers are limited per address too: a booking page answers with
# what the public API does; mail posted to a calendar's inbound URL is applied in the request.
LIMITED_BLUEPRINTS = frozenset({"pages", "inbound"})


def limited(path: str, blueprint: str | None) -> bool:
    return path == API_PREFIX or path.startswith(API_PREFIX + "/") or blueprint in LIMITED_BLUEPRINTS


def _record(count: WindowCount | None) -> None:
    g.caledee_rate_counted = True
    g.caledee_rate = count


def count_token(token_id: str) -> None:
    """Count this request against the API token ``token_id``; 429 past its limit."""
    count = caledee().request_limits.count_token(token_id)
    _record(count)
    if count is not None and not count.allowed:
        raise refuse(count, "token")


def count_address() -> None:
    """Count this request against its client address (it carries no valid token); 429 past the limit."""
    if g.get("caledee_rate_counted"):
        return
    count = caledee().request_limits.count_address(request.remote_addr or "")
    _record(count)
    if count is not None and not count.allowed:
        raise refuse(count, "client address")


def _view_needs_token() -> bool:
    view: Any = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, NEEDS_TOKEN, False))


def _before() -> None:
    # OPTIONS is answered by Flask without the view (and its token check): counted by address.
    if limited(request.path, request.blueprint) and (request.method == "OPTIONS" or not _view_needs_token()):
        count_address()


def _after(response: Response) -> Response:
    if not limited(request.path, request.blueprint):
        return response
    if not g.get("caledee_rate_counted"):
        # Answered before anything counted it (refused for failed logins): count it by its address.
        caledee_limits = caledee().request_limits
        _record(caledee_limits.count_address(request.remote_addr or ""))
    count: WindowCount | None = g.get("caledee_rate")
    if count is not None:
        response.headers["X-RateLimit-Limit"] = str(count.limit)
        response.headers["X-RateLimit-Remaining"] = str(count.remaining)
        response.headers["X-RateLimit-Reset"] = str(count.reset_at)
    return response


def register(app: Flask) -> None:
    app.before_request(_before)
    app.after_request(_after)
