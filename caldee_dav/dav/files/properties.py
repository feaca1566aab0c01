"""PROPFIND and PROPPATCH of plain folders and files: reading the request, writing the multistatus.

Live properties come from the resource; dead ones are kept as the XML of their element (namespace
declarations included, so each is well-formed on its own) and written back as they were given.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

from caldee_dav.calendars.files import Resource
from caldee_dav.dav.meta import http_date
from caldee_dav.dav.names import DAV, GETCONTENTTYPE, GETETAG, GETLASTMODIFIED, RESOURCETYPE
from caldee_dav.errors import InvalidInput

GETCONTENTLENGTH = DAV + "getcontentlength"
CREATIONDATE = DAV + "creationdate"
SUPPORTEDLOCK = DAV + "supportedlock"
LOCKDISCOVERY = DAV + "lockdiscovery"
# Computed by the server: a PROPPATCH may not set or remove them (RFC 4918 9.2, 403).
PROTECTED = {
    RESOURCETYPE,
    GETCONTENTLENGTH,
    GETCONTENTTYPE,
    GETETAG,
    GETLASTMODIFIED,
    CREATIONDATE,
    SUPPORTEDLOCK,
    LOCKDISCOVERY,
}

OK = "HTTP/1.1 200 OK"
NOT_FOUND = "HTTP/1.1 404 Not Found"
FORBIDDEN = "HTTP/1.1 403 Forbidden"
FAILED_DEPENDENCY = "HTTP/1.1 424 Failed Dependency"


@dataclass(frozen=True)
class PropfindRequest:
    names: list[str]  # the properties asked for (when neither all nor names_only)
    all: bool = False  # allprop (or an empty body)
    names_only: bool = False  # propname


def read_propfind(root: ET.Element | None) -> PropfindRequest:
    if root is None:
        return PropfindRequest([], all=True)
    if root.tag != DAV + "propfind":
        raise InvalidInput("a PROPFIND body is a DAV:propfind element")
    for child in root:
        if child.tag == DAV + "allprop":
            return PropfindRequest([], all=True)
        if child.tag == DAV + "propname":
            return PropfindRequest([], names_only=True)
        if child.tag == DAV + "prop":
            return PropfindRequest([prop.tag for prop in child])
    raise InvalidInput("a DAV:propfind holds DAV:prop, DAV:allprop or DAV:propname")


def read_proppatch(root: ET.Element | None) -> list[tuple[str, str | None]]:
    """(name, XML of the element to set, or None to remove), in the order given."""
    if root is None or root.tag != DAV + "propertyupdate":
        raise InvalidInput("a PROPPATCH body is a DAV:propertyupdate element")
    changes: list[tuple[str, str | None]] = []
    for instruction in root:
        if instruction.tag not in (DAV + "set", DAV + "remove"):
            raise InvalidInput("a DAV:propertyupdate holds DAV:set and DAV:remove elements")
        for prop in instruction.findall(DAV + "prop"):
            for element in prop:
                value = None
                if instruction.tag == DAV + "set":
                    element.tail = None
                    value = ET.tostring(element, encoding="unicode")
                changes.append((element.tag, value))
    return changes


def protected_in(changes: list[tuple[str, str | None]]) -> set[str]:
    return {name for name, _ in changes if name in PROTECTED}


def proppatch_multistatus(href: str, changes: list[tuple[str, str | None]], refused: set[str]) -> str:
    """All set (200 each), or none: 403 for the protected ones and 424 for the rest."""
    names = list(dict.fromkeys(name for name, _ in changes))
    if not refused:
        groups = [(OK, names)]
    else:
        groups = [
            (FORBIDDEN, [n for n in names if n in refused]),
            (FAILED_DEPENDENCY, [n for n in names if n not in refused]),
        ]
    return _document(
        [_response(href, [(status, [empty(n) for n in group]) for status, group in groups if group])]
    )


def propfind_multistatus(
    resources: list[Resource], request: PropfindRequest, href_of: Callable[[Resource], str]
) -> str:
    responses = []
    for resource in resources:
        live = live_properties(resource)
        if request.names_only:
            found = [empty(name) for name in [*live, *resource.properties]]
            responses.append(_response(href_of(resource), [(OK, found)]))
            continue
        if request.all:
            found = [value for name, value in live.items() if name != LOCKDISCOVERY]
            responses.append(_response(href_of(resource), [(OK, found + list(resource.properties.values()))]))
            continue
        found, missing = [], []
        for name in request.names:
            value = live.get(name, resource.properties.get(name))
            if value is None:
                missing.append(empty(name))
            else:
                found.append(value)
        responses.append(_response(href_of(resource), [(OK, found), (NOT_FOUND, missing)]))
    return _document(responses)


def live_properties(resource: Resource) -> dict[str, str]:
    """Name -> XML of each live property the resource has."""
    props = {}
    if resource.is_folder:
        props[RESOURCETYPE] = "<D:resourcetype><D:collection/></D:resourcetype>"
    else:
        props[RESOURCETYPE] = "<D:resourcetype/>"
        props[GETCONTENTLENGTH] = f"<D:getcontentlength>{resource.size}</D:getcontentlength>"
        props[GETCONTENTTYPE] = f"<D:getcontenttype>{escape(resource.content_type or '')}</D:getcontenttype>"
        props[GETETAG] = f"<D:getetag>{escape(resource.etag or '')}</D:getetag>"
    if resource.modified is not None:
        props[GETLASTMODIFIED] = f"<D:getlastmodified>{http_date(resource.modified)}</D:getlastmodified>"
    if resource.created is not None:
        created = resource.created.strftime("%Y-%m-%dT%H:%M:%SZ")
        props[CREATIONDATE] = f"<D:creationdate>{created}</D:creationdate>"
    # No locks here (the server is DAV class 1): the lists are empty, as RFC 4918 15.10 and 15.8 allow.
    props[SUPPORTEDLOCK] = "<D:supportedlock/>"
    props[LOCKDISCOVERY] = "<D:lockdiscovery/>"
    return props


def empty(name: str) -> str:
    """An empty element named by a Clark name (``{ns}local``, or ``local`` in no namespace)."""
    if name.startswith(DAV):
        return f"<D:{name[len(DAV) :]}/>"
    if name.startswith("{"):
        namespace, _, local = name[1:].partition("}")
        return f"<X:{local} xmlns:X={quoteattr(namespace)}/>"
    return f"<{name}/>"


def href(base_prefix: str, path: str, is_folder: bool) -> str:
    return quote(f"{base_prefix}/{path}{'/' if is_folder else ''}")


def _response(href_value: str, propstats: list[tuple[str, list[str]]]) -> str:
    parts = [f"<D:response><D:href>{escape(href_value)}</D:href>"]
    for status, props in propstats:
        if props:
            parts.append(
                f"<D:propstat><D:prop>{''.join(props)}</D:prop><D:status>{status}</D:status></D:propstat>"
            )
    parts.append("</D:response>")
    return "".join(parts)


def _document(responses: list[str]) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">'
        + "".join(responses)
        + "</D:multistatus>"
    )
