"""Radicale, configured on our storage and auth, as a WSGI app mounted at ``/dav``."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from radicale import Application
from radicale import config as radicale_config
from radicale.item import filter as radicale_filter

from caldee_dav import db
from caldee_dav.calendars.logins import LoginChecker
from caldee_dav.calendars.throttle import LoginThrottle
from caldee_dav.config import Settings
from caldee_dav.dav.collection import expand_window
from caldee_dav.dav.credentials import basic_credentials
from caldee_dav.dav.fast import FastDav
from caldee_dav.dav.login_guard import LoginGuard

CALDAV_NS = "urn:ietf:params:xml:ns:caldav"
FREE_BUSY_QUERY = f"{{{CALDAV_NS}}}free-busy-query"
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def radicale_configuration(settings: Settings) -> radicale_config.Configuration:
    configuration = radicale_config.load([])
    configuration.update(
        {
            "auth": {
                "type": "caldee_dav.dav.auth",
                "caledee_settings": settings.model_dump_json(),
                "realm": "Caledee",
                "delay": "0",
            },
            "rights": {"type": "owner_only"},
            "storage": {
                "type": "caldee_dav.dav.storage",
                "caledee_settings": settings.model_dump_json(),
            },
            "server": {
                "max_content_length": str(settings.max_resource_size),
                "max_resource_size": str(int(settings.max_resource_size * 0.8)),
            },
            "web": {"type": "none"},
            "logging": {"level": settings.log_level, "mask_passwords": "True"},
        },
        "caledee",
        privileged=True,
    )
    return configuration


class WarningsWithoutTraceback(logging.Filter):
    """Radicale logs a client's mistake (a PUT of garbage, a bad sync token) as a warning with the
    parser's traceback attached; below debug level the warning's one line says enough. (Radicale's own
    server installs a similar filter; under gunicorn nothing does.) Errors keep their tracebacks."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.WARNING:
            record.exc_info = None
            record.exc_text = None
        return True


def create_dav_app(settings: Settings, login_throttle: LoginThrottle | None = None) -> WSGIApp:
    """``login_throttle``: the failed-login counters, shared with the REST app of the same process."""
    if settings.log_level != "debug":
        radicale_log = logging.getLogger("radicale")
        if not any(isinstance(f, WarningsWithoutTraceback) for f in radicale_log.filters):
            radicale_log.addFilter(WarningsWithoutTraceback())
    radicale = Application(radicale_configuration(settings))
    fast = FastDav(settings) if settings.dav_fast_path else None
    if login_throttle is None:
        login_throttle = LoginThrottle.for_settings(settings)
    logins = LoginChecker(db.engine_for(settings.database_url))
    return LoginGuard(DavRequestGuard(radicale, settings.max_resource_size, fast), logins, login_throttle)


XML_METHODS = {"PROPFIND", "PROPPATCH", "REPORT", "MKCALENDAR", "MKCOL"}


class DavRequestGuard:
    """Checks in front of Radicale, on the raw request:

    - a body over the size limit gets 413 before it is read (Radicale checks only under its own server);
    - XML with a DTD or entities gets 400 (Radicale's defusedxml refuses it, but as a 500), and so do
      a free-busy-query without a time-range and a Destination that is not a URL; Basic credentials
      that do not decode get 401 (Radicale answers these three with a 500);
    - a calendar-query asking for ``<C:expand>`` tells the storage its time range: Radicale strips the
      time-range from the filters it hands to ``get_filtered`` when expanding, which would make the
      storage return, and Radicale parse, every object;
    - the requests ``fast`` answers (see ``caldee_dav.dav.fast``) never reach Radicale.
    """

    def __init__(self, app: WSGIApp, max_body: int, fast: FastDav | None = None) -> None:
        self.app = app
        self.max_body = max_body
        self.fast = fast

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > self.max_body:
            return _plain(
                start_response,
                "413 Request Entity Too Large",
                f"Request body too large: {length} bytes, the limit is {self.max_body}.",
            )
        refusal = _refusal_of_headers(environ)
        if refusal is not None:
            return _plain(start_response, *refusal)
        method = environ.get("REQUEST_METHOD")
        if length <= 0 or (method not in XML_METHODS and (method != "PUT" or self.fast is None)):
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        root = None
        if method in XML_METHODS:
            try:
                root = SafeET.fromstring(body)
            except DefusedXmlException:
                message = "XML with a DTD or entities is not accepted."
                return _plain(start_response, "400 Bad Request", message)
            except SafeET.ParseError:
                return self.app(environ, start_response)  # Radicale answers malformed XML with 400 itself.
            if root.tag == FREE_BUSY_QUERY and root.find(f"{{{CALDAV_NS}}}time-range") is None:
                # RFC 4791 7.10: the time-range is required (Radicale fails an assertion: a 500).
                return _plain(start_response, "400 Bad Request", "A free-busy-query needs a time-range.")
        if self.fast is not None:
            answer = self.fast.answer(environ, body, root)
            if answer is not None:
                return answer.send(environ, start_response)
            environ["wsgi.input"] = io.BytesIO(body)
        if root is None:
            return self.app(environ, start_response)
        token = expand_window.set(_expand_time_range(root))
        try:
            return list(self.app(environ, start_response))
        finally:
            expand_window.reset(token)


def _plain(
    start_response: Callable[..., Any], status: str, message: str, headers: Iterable[tuple[str, str]] = ()
) -> list[bytes]:
    body = (message + "\n").encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body))), *headers])
    return [body]


def _refusal_of_headers(environ: dict[str, Any]) -> tuple[str, str, list[tuple[str, str]]] | None:
    """Headers Radicale fails on with a 500 instead of a client error: (status, message, headers)."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    if authorization.partition(" ")[0].lower() == "basic" and basic_credentials(authorization) is None:
        challenge = [("WWW-Authenticate", 'Basic realm="Caledee"')]
        return "401 Unauthorized", "The Basic credentials are not base64 of login:password.", challenge
    destination = environ.get("HTTP_DESTINATION")
    if destination is not None:
        try:
            urlsplit(destination)
        except ValueError:
            return "400 Bad Request", "The Destination header is not a URL.", []
    return None


def _expand_time_range(root: Any) -> tuple[int, int] | None:
    if root.find(f".//{{{CALDAV_NS}}}expand") is None:
        return None
    time_range = root.find(
        f".//{{{CALDAV_NS}}}comp-filter/{{{CALDAV_NS}}}comp-filter/{{{CALDAV_NS}}}time-range"
    )
    if time_range is None:
        return None
    try:
        return radicale_filter.time_range_timestamps(time_range)
    except Exception:  # noqa: BLE001 - a bad time-range: Radicale reports it
        return None
