"""The iTIP method of a calendar in a message (RFC 5546 section 1.4, RFC 6047 section 2.4).

RFC 6047 asks the MIME ``method`` parameter and the body's METHOD to agree; when they do not (or the
parameter is missing, as on many .ics attachments), the body is what is applied, so the body wins."""

from __future__ import annotations

from inbound.mime import CalendarPart

ITIP_METHODS = frozenset(
    {"PUBLISH", "REQUEST", "REPLY", "ADD", "CANCEL", "REFRESH", "COUNTER", "DECLINECOUNTER"}
)
# METHOD is a property of VCALENDAR and comes before its components; a calendar that has not named
# it in this many lines does not name it where it counts.
MAX_LINES_SCANNED = 10_000


def itip_method(part: CalendarPart) -> str | None:
    """The method to apply: the body's METHOD, else the MIME parameter; None when neither is an iTIP
    method."""
    method = body_method(part.text) or part.mime_method
    if method is None:
        return None
    method = method.strip().upper()
    return method if method in ITIP_METHODS else None


def body_method(text: str) -> str | None:
    """The value of the VCALENDAR's METHOD property, upper-cased, or None. Only at the calendar's own
    level: a METHOD line inside a component is not the calendar's."""
    depth = 0
    for count, line in enumerate(_unfolded_lines(text)):
        if count >= MAX_LINES_SCANNED:
            return None
        name, _, value = line.partition(":")
        name = name.split(";", 1)[0].strip().upper()
        if name == "BEGIN":
            depth += 1
        elif name == "END":
            depth -= 1
        elif name == "METHOD" and depth == 1:
            return value.strip().upper() or None
    return None


def _unfolded_lines(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\n ", "").replace("\n\t", "").split("\n")
