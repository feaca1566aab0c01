"""Failed CalDAV logins: counted per client address and throttled, and a token without the ``caldav``
scope told so (403) instead of being asked for credentials again (401).

A WSGI layer around the whole /dav app: a login is checked by the fast path or by Radicale's auth
plugin, and whichever refuses it, the answer is a 401 to a request that carried credentials. So this
layer looks at the answer's status rather than at either of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from caldee_dav.calendars.logins import LoginChecker
from caldee_dav.calendars.throttle import LoginThrottle
from caldee_dav.dav.credentials import basic_credentials
from caldee_dav.dav.text_answer import text_answer
from caldee_dav.errors import TooManyRequests

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class LoginGuard:
    def __init__(self, app: WSGIApp, logins: LoginChecker, throttle: LoginThrottle) -> None:
        self.app = app
        self.logins = logins
        self.throttle = throttle

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        if not authorization:
            # Clients ask without credentials first, and get 401: that is no failed login.
            return self.app(environ, start_response)
        # The connection's address: behind a proxy, the operator configures forwarded headers
        # (docs/configuration.md); X-Forwarded-For is not trusted by default.
        address = environ.get("REMOTE_ADDR", "")
        try:
            self.throttle.check(address)
        except TooManyRequests as exc:
            retry = [("Retry-After", str(exc.retry_after))]
            return text_answer(start_response, "429 Too Many Requests", exc.message, retry)
        started: list[Any] = []

        def remember_start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            started[:] = [status, headers, exc_info]

        body = self.app(environ, remember_start)
        if not started:  # the app starts its answer on the first iteration: run it now
            body = list(body)
        status, headers, exc_info = started
        if status.startswith("401"):
            credentials = basic_credentials(authorization)
            scope = self.logins.missing_scope(*credentials) if credentials else None
            if scope is not None:
                _close(body)
                message = (
                    f"This API token lacks the `{scope}` scope that a CalDAV login needs: create one with"
                    f" `caledee token create --user USER --scope {scope}`, or log in with the password."
                )
                return text_answer(start_response, "403 Forbidden", message)
            self.throttle.record_failure(address)
        start_response(status, headers, exc_info)
        return body


def _close(body: Iterable[bytes]) -> None:
    close = getattr(body, "close", None)
    if close is not None:
        close()
