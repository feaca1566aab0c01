"""Multistatus documents written as text: one string per response, no element tree."""

from __future__ import annotations

from collections.abc import Iterable
from xml.sax.saxutils import escape

DAV = "{DAV:}"
CALDAV = "{urn:ietf:params:xml:ns:caldav}"
PREFIXES = {DAV: "D:", CALDAV: "C:"}
OPENING = (
    "<?xml version='1.0' encoding='utf-8'?>\n"
    '<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
)
CLOSING = "</D:multistatus>"
OK = "<D:status>HTTP/1.1 200 OK</D:status>"
NOT_FOUND = "<D:status>HTTP/1.1 404 Not Found</D:status>"


def prefixed(clark: str) -> str:
    """``{DAV:}getetag`` -> ``D:getetag``; a property of another namespace keeps its own."""
    namespace, _, name = clark[1:].partition("}")
    prefix = PREFIXES.get("{" + namespace + "}")
    return prefix + name if prefix else name


def element(clark: str, text: str | None = None) -> str:
    namespace, _, name = clark[1:].partition("}")
    prefix = PREFIXES.get("{" + namespace + "}")
    if prefix is None:
        opening, closing = f'X:{name} xmlns:X="{escape(namespace, {chr(34): "&quot;"})}"', f"X:{name}"
    else:
        opening = closing = prefix + name
    if text is None:
        return f"<{opening}/>"
    return f"<{opening}>{escape(text)}</{closing}>"


def response(href: str, found: Iterable[str], missing: Iterable[str] = (), *, declare: bool = False) -> str:
    """One ``<D:response>``: the found properties (rendered) under 200, the missing ones under 404.

    ``declare`` binds the ``D:`` prefix on the response itself, for a response added to a document
    written by someone else (Radicale uses DAV: as its default namespace)."""
    opening = '<D:response xmlns:D="DAV:">' if declare else "<D:response>"
    parts = [f"{opening}<D:href>{escape(href)}</D:href>"]
    found_text = "".join(found)
    if found_text:
        parts.append(f"<D:propstat><D:prop>{found_text}</D:prop>{OK}</D:propstat>")
    missing_text = "".join(missing)
    if missing_text:
        parts.append(f"<D:propstat><D:prop>{missing_text}</D:prop>{NOT_FOUND}</D:propstat>")
    parts.append("</D:response>")
    return "".join(parts)


def document(responses: Iterable[str]) -> str:
    return OPENING + "".join(responses) + CLOSING
