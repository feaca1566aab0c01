"""The HTTP side of plain folders and files: which requests are theirs, and each method's answer."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from defusedxml import DefusedXmlException
from radicale import pathutils
from sqlalchemy import Engine

from caldee_dav import db
from caldee_dav.calendars import files
from caldee_dav.calendars.logins import LoginChecker
from caldee_dav.dav.credentials import basic_credentials
from caldee_dav.dav.files import properties
from caldee_dav.dav.meta import http_date
from caldee_dav.dav.xml_body import XmlTooDeep, parse_xml
from caldee_dav.errors import (
    CaledeeError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    Unauthorized,
)

# No LOCK: the server is DAV class 1 (no "2"), and LOCK and UNLOCK are refused with 405 everywhere.
DAV_CLASSES = "1, 3, calendar-access, addressbook, extended-mkcol"
ALLOW = "OPTIONS, GET, HEAD, PUT, DELETE, MKCOL, PROPFIND, PROPPATCH, COPY, MOVE"
CHALLENGE = ("WWW-Authenticate", 'Basic realm="Caledee"')


@dataclass
class Reply:
    status: str
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    def send(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        headers = [*self.headers, ("Content-Length", str(len(self.body)))]
        if self.body and not any(name == "Content-Type" for name, _ in headers):
            headers.append(("Content-Type", "text/plain; charset=utf-8"))
        start_response(self.status, headers)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [self.body]


def plain(status: str, message: str, *headers: tuple[str, str]) -> Reply:
    return Reply(status, (message + "\n").encode(), list(headers))


def multistatus(document: str) -> Reply:
    return Reply("207 Multi-Status", document.encode(), [("Content-Type", "application/xml; charset=utf-8")])


class PlainFiles:
    """Plain folders under a principal (``/dav/alice/docs/``) and everything in them; calendars and
    address books stay Radicale's."""

    def __init__(self, engine: Engine, logins: LoginChecker, max_size: int) -> None:
        self.engine = engine
        self.logins = logins
        self.max_size = max_size

    def path_taken(self, environ: dict[str, Any]) -> str | None:
        """The path (``alice/docs/a.txt``) when the request is for a plain folder or what is in one, or
        creates a plain folder directly under a principal (MKCOL without a body); else None."""
        path = request_path(environ)
        if path is None or "/" not in path:
            return None
        with db.read_unit(self.engine) as session:
            kind = files.top_kind(session, path)
        if kind is files.TopKind.FOLDER:
            return path
        creates_folder = environ.get("REQUEST_METHOD") == "MKCOL" and not _has_body(environ)
        if kind is files.TopKind.MISSING and creates_folder and path.count("/") == 1:
            return path
        return None

    def answer(self, environ: dict[str, Any], path: str, body: bytes) -> Reply:
        method = environ.get("REQUEST_METHOD", "")
        if method == "OPTIONS":
            return Reply("200 OK", b"", [("Allow", ALLOW), ("DAV", DAV_CLASSES)])
        credentials = basic_credentials(environ.get("HTTP_AUTHORIZATION", ""))
        user = self.logins.slug_for(*credentials) if credentials else ""
        try:
            if not user:
                raise Unauthorized("log in with your user name and password or an API token")
            handler = self._handlers.get(method)
            if handler is None:
                return plain("405 Method Not Allowed", f"{method} is not allowed here", ("Allow", ALLOW))
            return handler(self, environ, user, path, body)
        except (XmlTooDeep, DefusedXmlException, ET.ParseError) as exc:
            return plain("400 Bad Request", xml_refusal(exc))
        except CaledeeError as exc:
            return _error_reply(exc)

    # --- methods --------------------------------------------------------------------------------

    def _get(self, environ: dict[str, Any], user: str, path: str, body: bytes) -> Reply:
        with db.read_unit(self.engine) as session:
            resource = files.find(session, user, path)
            if resource is None:
                raise NotFound(f"{path} does not exist")
            if resource.is_folder:
                members = files.listing(session, user, path, 1)[1:]
                names = [m.path.rpartition("/")[2] + ("/" if m.is_folder else "") for m in members]
                return Reply("200 OK", "".join(n + "\n" for n in names).encode(), _stamps(resource))
            resource, content = files.read_file(session, user, path)
        return Reply("200 OK", content, [("Content-Type", resource.content_type or ""), *_stamps(resource)])

    def _put(self, environ: dict[str, Any], user: str, path: str, body: bytes) -> Reply:
        with db.write_unit(self.engine) as session:
            resource, created = files.put_file(
                session,
                user,
                path,
                body,
                environ.get("CONTENT_TYPE") or None,
                if_match=environ.get("HTTP_IF_MATCH"),
                if_none_match=environ.get("HTTP_IF_NONE_MATCH"),
            )
        return Reply("201 Created" if created else "204 No Content", b"", [("ETag", resource.etag or "")])

    def _delete(self, environ: dict[str, Any], user: str, path: str, body: bytes) -> Reply:
        with db.write_unit(self.engine) as session:
            files.delete(session, user, path, if_match=environ.get("HTTP_IF_MATCH"))
        return Reply("204 No Content")

    def _mkcol(self, environ: dict[str, Any], user: str, path: str, body: bytes) -> Reply:
        if body:
            # RFC 4918 9.3.1: a body MKCOL does not understand. (Calendars and address books are made
            # directly under the principal, by MKCALENDAR or an extended MKCOL, which Radicale answers.)
            return plain("415 Unsupported Media Type", "MKCOL of a plain folder takes no body")
        with db.write_unit(self.engine) as session:
            files.make_folder(session, user, path)
        return Reply("201 Created")

    def _propfind(self, environ: dict[str, Any], user: str, path: str, body: bytes) -> Reply:
        request = properties.read_propfind(parse_xml(body) if body else None)
        depth = {"0": 0, "1": 1, "infinity": None}.get(environ.get("HTTP_DEPTH", "infinity").lower(), -1)
        if depth == -1:
            raise InvalidInput("Depth is 0, 1 or infinity")
        with db.read_unit(self.engine) as session:
            resources = files.listing(session, user, path, depth)
        prefix = base_prefix(environ)
        document = properties.propfind_multistatus(
            resources, request, lambda r: properties.href(prefix, r.path, r.is_folder)
        )
        return multistatus(document)

    def _proppatch(self, environ: dict[str, Any], user: str, path: str, body: bytes) -> Reply:
        changes = properties.read_proppatch(parse_xml(body) if body else None)
        refused = properties.protected_in(changes)
        with db.write_unit(self.engine) as session:
            resource = files.find(session, user, path)
            if resource is None:
                raise NotFound(f"{path} does not exist")
            if not refused:
                files.update_properties(session, user, path, changes)
        href = properties.href(base_prefix(environ), path, resource.is_folder)
        return multistatus(properties.proppatch_multistatus(href, changes, refused))

    def _copy(self, environ: dict[str, Any], user: str, path: str, body: bytes) -> Reply:
        depth = environ.get("HTTP_DEPTH", "infinity").lower()
        if depth not in ("0", "infinity"):
            raise InvalidInput("COPY takes Depth 0 or infinity")
        destination, overwrite = self._destination(environ)
        with db.write_unit(self.engine) as session:
            created = files.copy(
                session, user, path, destination, overwrite=overwrite, recursive=depth == "infinity"
            )
        return Reply("201 Created" if created else "204 No Content")

    def _move(self, environ: dict[str, Any], user: str, path: str, body: bytes) -> Reply:
        if environ.get("HTTP_DEPTH", "infinity").lower() != "infinity":
            raise InvalidInput("MOVE moves everything: Depth infinity or none")
        destination, overwrite = self._destination(environ)
        with db.write_unit(self.engine) as session:
            created = files.move(session, user, path, destination, overwrite=overwrite)
        return Reply("201 Created" if created else "204 No Content")

    def _destination(self, environ: dict[str, Any]) -> tuple[str, bool]:
        value = environ.get("HTTP_DESTINATION")
        if not value:
            raise InvalidInput("COPY and MOVE need a Destination header")
        prefix = base_prefix(environ)
        target = unquote(urlsplit(value).path)
        if not target.startswith(prefix + "/"):
            raise Forbidden("the Destination is outside this server's WebDAV space")
        destination = pathutils.sanitize_path(target[len(prefix) :]).strip("/")
        return destination, environ.get("HTTP_OVERWRITE", "T").upper() != "F"

    _handlers: dict[str, Callable[[PlainFiles, dict[str, Any], str, str, bytes], Reply]] = {
        "GET": _get,
        "HEAD": _get,
        "PUT": _put,
        "DELETE": _delete,
        "MKCOL": _mkcol,
        "PROPFIND": _propfind,
        "PROPPATCH": _proppatch,
        "COPY": _copy,
        "MOVE": _move,
    }


def request_path(environ: dict[str, Any]) -> str | None:
    """PATH_INFO as the path it names (``alice/docs/a.txt``); None when it is not UTF-8."""
    raw = environ.get("PATH_INFO", "")
    try:
        decoded = raw.encode("latin-1").decode("utf-8")  # WSGI hands the URL's bytes as latin-1
    except UnicodeError:
        return None
    return pathutils.sanitize_path(decoded).strip("/")


def base_prefix(environ: dict[str, Any]) -> str:
    return str(environ.get("HTTP_X_SCRIPT_NAME", environ.get("SCRIPT_NAME", ""))).rstrip("/")


def xml_refusal(exc: Exception) -> str:
    if isinstance(exc, XmlTooDeep):
        return "XML nested too deeply."
    if isinstance(exc, DefusedXmlException):
        return "XML with a DTD or entities is not accepted."
    return f"The body is not well-formed XML: {exc}"


def _has_body(environ: dict[str, Any]) -> bool:
    return environ.get("CONTENT_LENGTH", "") not in ("", "0") or "HTTP_TRANSFER_ENCODING" in environ


def _stamps(resource: files.Resource) -> list[tuple[str, str]]:
    headers = [("ETag", resource.etag)] if resource.etag else []
    if resource.modified is not None:
        headers.append(("Last-Modified", http_date(resource.modified)))
    return headers


def _error_reply(exc: CaledeeError) -> Reply:
    if isinstance(exc, Unauthorized):
        return plain("401 Unauthorized", exc.message, CHALLENGE)
    if isinstance(exc, files.NotAllowedHere):
        return plain("405 Method Not Allowed", exc.message, ("Allow", ALLOW))
    for kind, status in (
        (NotFound, "404 Not Found"),
        (Forbidden, "403 Forbidden"),
        (PreconditionFailed, "412 Precondition Failed"),
        (Conflict, "409 Conflict"),
        (InvalidInput, "400 Bad Request"),
    ):
        if isinstance(exc, kind):
            return plain(status, exc.message)
    return plain("400 Bad Request", exc.message)
