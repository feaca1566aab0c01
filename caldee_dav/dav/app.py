"""Radicale, configured on our storage and auth, as a WSGI app mounted at ``/dav``."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from radicale import Application
from radicale import config as radicale_config
from radicale.item import filter as radicale_filter

from caldee_dav import clock, db, ical
from caldee_dav.calendars import objects
from caldee_dav.calendars.logins import LoginChecker
from caldee_dav.calendars.objects import WriteLimits
from caldee_dav.calendars.throttle import LoginThrottle
from caldee_dav.config import Settings
from caldee_dav.dav.collection import expand_window
from caldee_dav.dav.credentials import basic_credentials
from caldee_dav.dav.fast import FastDav
from caldee_dav.dav.files import ALLOW, DAV_CLASSES, PlainFiles, Reply, plain
from caldee_dav.dav.login_guard import LoginGuard
from caldee_dav.dav.text_answer import text_answer
from caldee_dav.dav.xml_body import XmlTooDeep, parse_xml

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
                "max_vevent_rrule_occurrence": str(settings.max_instances_per_series),
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
    engine = db.engine_for(settings.database_url)
    logins = LoginChecker(engine)
    files = PlainFiles(engine, logins, settings.max_resource_size)
    limits = WriteLimits.from_settings(settings)
    guard = DavRequestGuard(radicale, settings.max_resource_size, fast, files, limits)
    return LoginGuard(guard, logins, login_throttle)


XML_METHODS = {"PROPFIND", "PROPPATCH", "REPORT", "MKCALENDAR", "MKCOL"}
# Methods a plain folder answers (see caldee_dav.dav.files). REPORT, the calendar query, is not one:
# it never pays for the look-up that tells a plain folder from a calendar.
FILE_METHODS = {"OPTIONS", "GET", "HEAD", "PUT", "DELETE", "MKCOL", "PROPFIND", "PROPPATCH", "COPY", "MOVE"}
LOCK_METHODS = {"LOCK", "UNLOCK"}


class DavRequestGuard:
    """Checks in front of Radicale, on the raw request:

    - a body over the size limit gets 413 before it is read (Radicale checks only under its own server);
    - XML with a DTD or entities, or nested deeper than ``MAX_XML_DEPTH``, gets 400 (Radicale fails on
      both with a 500), and so do
      a free-busy-query without a time-range and a Destination that is not a URL; Basic credentials
      that do not decode get 401 (Radicale answers these three with a 500);
    - a calendar-query asking for ``<C:expand>`` tells the storage its time range: Radicale strips the
      time-range from the filters it hands to ``get_filtered`` when expanding, which would make the
      storage return, and Radicale parse, every object;
    - a PUT of calendar data that no path may store gets its refusal at once, before Radicale parses
      it or anyone takes a lock (``_refusal_of_calendar_data``): 413 for an object with too many
      components, 400 for a recurrence rule the server does not store (``docs/configuration.md``);
    - the requests ``fast`` answers (see ``caldee_dav.dav.fast``) never reach Radicale;
    - plain folders and their files are ``files``' (see ``caldee_dav.dav.files``); LOCK and UNLOCK get
      405 and OPTIONS does not claim DAV class 2 (Radicale claims it but has no locks).
    """

    def __init__(
        self,
        app: WSGIApp,
        max_body: int,
        fast: FastDav | None = None,
        files: PlainFiles | None = None,
        limits: WriteLimits | None = None,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.fast = fast
        self.files = files
        self.limits = limits

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > self.max_body:
            return text_answer(
                start_response,
                "413 Request Entity Too Large",
                f"Request body too large: {length} bytes, the limit is {self.max_body}.",
            )
        refusal = _refusal_of_headers(environ)
        if refusal is not None:
            return text_answer(start_response, *refusal)
        webdav = self._webdav_answer(environ, length)
        if webdav is not None:
            return webdav.send(environ, start_response)
        method = environ.get("REQUEST_METHOD")
        if method == "OPTIONS":
            return self.app(environ, _without_dav_class_2(start_response))
        if length <= 0 or (method not in XML_METHODS and method != "PUT"):
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        if method == "PUT" and self.limits is not None:
            refused = _refusal_of_calendar_data(body, environ.get("PATH_INFO", ""), self.limits)
            if refused is not None:
                return text_answer(start_response, *refused)
        root = None
        if method in XML_METHODS:
            try:
                root = parse_xml(body)
            except XmlTooDeep:
                return text_answer(start_response, "400 Bad Request", "XML nested too deeply.")
            except DefusedXmlException:
                message = "XML with a DTD or entities is not accepted."
                return text_answer(start_response, "400 Bad Request", message)
            except SafeET.ParseError:
                return self.app(environ, start_response)  # Radicale answers malformed XML with 400 itself.
            if root.tag == FREE_BUSY_QUERY and root.find(f"{{{CALDAV_NS}}}time-range") is None:
                # RFC 4791 7.10: the time-range is required (Radicale fails an assertion: a 500).
                return text_answer(start_response, "400 Bad Request", "A free-busy-query needs a time-range.")
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

    def _webdav_answer(self, environ: dict[str, Any], length: int) -> Reply | None:
        """Locking refused, and plain folders and files answered; None for everything else."""
        method = environ.get("REQUEST_METHOD", "")
        if method in LOCK_METHODS:
            message = "Locking is not supported: this server is WebDAV class 1 (see OPTIONS)."
            allow = ALLOW if self._files_path(environ) else RADICALE_ALLOW
            return plain("405 Method Not Allowed", message, ("Allow", allow))
        if method not in FILE_METHODS:
            return None
        path = self._files_path(environ)
        if path is None or self.files is None:
            return None
        body = _read_body(environ, length, self.max_body)
        if body is None:
            message = f"Request body too large: the limit is {self.max_body} bytes."
            return plain("413 Request Entity Too Large", message)
        return self.files.answer(environ, path, body)

    def _files_path(self, environ: dict[str, Any]) -> str | None:
        return self.files.path_taken(environ) if self.files is not None else None


# What Radicale answers (its do_* methods); LOCK and UNLOCK are not among them.
RADICALE_ALLOW = ", ".join(
    sorted(name[3:] for name in dir(Application) if name.startswith("do_") and name[3:] not in LOCK_METHODS)
)


def _read_body(environ: dict[str, Any], length: int, limit: int) -> bytes | None:
    """The whole body (also a chunked one), or None when it is over ``limit`` bytes."""
    stream = environ["wsgi.input"]
    if length > 0:
        body = stream.read(length)
    elif "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        body = stream.read(limit + 1)
    else:
        body = b""
    return body if len(body) <= limit else None


def _without_dav_class_2(start_response: Callable[..., Any]) -> Callable[..., Any]:
    """Radicale's OPTIONS answer with an honest DAV header: it claims class 2 (locking) without LOCK."""

    def respond(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
        honest = [(name, DAV_CLASSES if name.lower() == "dav" else value) for name, value in headers]
        return start_response(status, honest, *args)

    return respond


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


COMPONENT_START = re.compile(rb"^BEGIN:(VEVENT|VTODO|VJOURNAL)\r?$", re.IGNORECASE | re.MULTILINE)


def _refusal_of_calendar_data(body: bytes, path: str, limits: WriteLimits) -> tuple[str, str] | None:
    """(status, message) for calendar data no path may store, checked before it is parsed as a whole:
    a count of component lines, then each recurrence rule as text, then (only for bodies with rules)
    a parse and an index of each object under the expansion time limit. The rules are read as text as
    well as in the index because a body icalendar cannot parse passes ``check_upload``: vobject may read
    it, and Radicale's own filter would later expand a rule like ``INTERVAL=0`` forever."""
    components = len(COMPONENT_START.findall(body))
    if components > limits.max_components:
        # A whole-calendar import (a PUT to the collection) is bounded too: it is stored item by item
        # through Radicale, about 4 ms each, inside one write transaction.
        what = "The import" if path.endswith("/") else "The calendar object"
        message = (
            f"{what} holds {components} components; the limit is {limits.max_components}. "
            "Upload the events one by one (as CalDAV clients do), or in smaller files."
        )
        return "413 Request Entity Too Large", message
    if b"RULE" not in body.upper():
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None  # Radicale refuses it
    for rule in ical.unfolded_rules(text):
        problem = ical.rule_problem(rule, limits.series_limit)
        if problem:
            return "400 Bad Request", f"Recurrence rule {rule!r} refused: {problem}."
    try:
        objects.check_upload(text, limits, clock.now())
    except objects.TooManyComponents as exc:
        return "413 Request Entity Too Large", exc.message + "."
    except ical.UnacceptableRecurrence as exc:
        return "400 Bad Request", f"Recurrence refused: {exc.reason}."
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
