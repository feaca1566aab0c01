"""The calendars in a mail message (RFC 6047): every text/calendar part and .ics attachment, decoded.

Pure: bytes in, text out. Senders shape invitations differently (Google puts the calendar inline in a
multipart/alternative *and* attaches it as invite.ics; Outlook sends base64 text/calendar with
method=REQUEST; a forward wraps the whole invitation in message/rfc822), so the walk takes any MIME
structure and keeps each distinct calendar once.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, replace
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser

from caldee_dav.errors import WorkLimitExceeded

# A real invitation has a dozen parts at most, a long forwarded thread a few dozen. The bound stops a
# message of thousands of parts long before it costs anything.
MAX_PARTS = 100
# Decoded calendar text of one message, all parts together. Base64 and quoted-printable never decode
# to more bytes than they are encoded in, so checking the encoded size first bounds the decoding too.
MAX_DECODED_BYTES = 5_000_000

CALENDAR_CONTENT_TYPES = frozenset({"text/calendar", "application/ics", "application/x-ics"})
# RFC 5545 3.1.4: iCalendar text is UTF-8 unless the part says otherwise.
DEFAULT_CHARSET = "utf-8"
# The stdlib parser recurses once per nesting level (multipart in multipart), so a message nested a
# thousand deep is a RecursionError inside parsebytes, before any part can be counted. Each level
# needs a Content-Type header (a multipart/digest's parts default to message/rfc822, whose own body
# defaults to text/plain: two levels per header at most), so counting those headers first bounds the
# depth the parser may reach. Header names are not folded; a line may end in CR, LF or CRLF.
CONTENT_TYPE_HEADER = re.compile(rb"(?:^|[\r\n])content-type[ \t]*:", re.IGNORECASE)


class MessageTooComplex(WorkLimitExceeded):
    """The message has more parts, or more calendar data, than one invitation may have."""


@dataclass(frozen=True)
class CalendarPart:
    """One calendar found in a message."""

    text: str
    # The MIME ``method`` parameter, upper-cased (None when absent). The body's METHOD may disagree;
    # inbound.method.itip_method decides.
    mime_method: str | None
    content_type: str
    filename: str | None


def calendar_parts(
    message_bytes: bytes,
    *,
    max_parts: int = MAX_PARTS,
    max_decoded_bytes: int = MAX_DECODED_BYTES,
) -> list[CalendarPart]:
    """Every distinct calendar in the message, in the order they appear.

    Raises MessageTooComplex beyond ``max_parts`` parts walked or ``max_decoded_bytes`` decoded."""
    return calendar_parts_of(
        parsed_message(message_bytes, max_parts=max_parts),
        max_parts=max_parts,
        max_decoded_bytes=max_decoded_bytes,
    )


def parsed_message(message_bytes: bytes, *, max_parts: int = MAX_PARTS) -> Message:
    """The whole message parsed (headers and every part), or MessageTooComplex when it has more than
    ``max_parts`` Content-Type headers (see CONTENT_TYPE_HEADER: the parser recurses per level)."""
    if _content_type_headers(message_bytes, max_parts) > max_parts:
        raise MessageTooComplex(f"The message has more than {max_parts} MIME parts.")
    # compat32: the walk reads a few headers of each part; policy.default's header objects cost
    # several milliseconds a message for nothing here.
    return BytesParser(policy=policy.compat32).parsebytes(message_bytes)


def calendar_parts_of(
    message: Message, *, max_parts: int = MAX_PARTS, max_decoded_bytes: int = MAX_DECODED_BYTES
) -> list[CalendarPart]:
    """``calendar_parts`` of a message ``parsed_message`` has parsed."""
    found: list[CalendarPart] = []
    seen: dict[str, int] = {}  # normalized text -> index in found
    budget = max_decoded_bytes
    for count, part in enumerate(message.walk(), start=1):
        if count > max_parts:
            raise MessageTooComplex(f"The message has more than {max_parts} MIME parts.")
        if not _is_calendar(part):
            continue
        payload = _decoded_payload(part, budget)
        budget -= len(payload)
        calendar = CalendarPart(
            text=_text(payload, part.get_content_charset()),
            mime_method=_mime_method(part),
            content_type=part.get_content_type(),
            filename=_filename(part),
        )
        key = normalized(calendar.text)
        if not key:
            continue
        if key in seen:
            found[seen[key]] = _merged(found[seen[key]], calendar)
        else:
            seen[key] = len(found)
            found.append(calendar)
    return found


def normalized(text: str) -> str:
    """The calendar text with the differences two copies of one calendar may have removed: a BOM,
    line endings, folding, trailing spaces and blank lines (a transfer encoding re-wraps or pads)."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    unfolded = text.replace("\n ", "").replace("\n\t", "")
    return "\n".join(line.rstrip() for line in unfolded.split("\n") if line.strip())


def _content_type_headers(message_bytes: bytes, max_parts: int) -> int:
    """How many Content-Type headers the message has, counting no further than one past ``max_parts``."""
    # Each header holds the word, so a message with few of the word has few headers: counted in C,
    # without the regular expression's scan of every position (most of a message's MIME work).
    mentions = message_bytes.lower().count(b"content-type")
    if mentions <= max_parts:
        return mentions
    count = 0
    for _ in CONTENT_TYPE_HEADER.finditer(message_bytes):
        count += 1
        if count > max_parts:
            break
    return count


def _is_calendar(part: Message) -> bool:
    if part.is_multipart():  # multipart/* and message/rfc822: walk() enters them
        return False
    if part.get_content_type() in CALENDAR_CONTENT_TYPES:
        return True
    filename = _filename(part)
    return bool(filename) and filename.strip().lower().endswith(".ics")


def _filename(part: Message) -> str | None:
    """The part's file name, RFC 2231 and RFC 2047 (=?utf-8?q?...?=) encodings decoded."""
    filename = part.get_filename()
    if not isinstance(filename, str) or "=?" not in filename:
        return filename
    try:
        return str(make_header(decode_header(filename)))
    except (ValueError, LookupError, UnicodeError):
        return filename


def _decoded_payload(part: Message, budget: int) -> bytes:
    encoded = part.get_payload()
    encoded_size = len(encoded) if isinstance(encoded, str | bytes) else 0
    if encoded_size > budget:
        raise MessageTooComplex("The message carries more calendar data than one invitation may.")
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return b""
    if len(payload) > budget:  # an encoding that expands (uuencode): still bounded
        raise MessageTooComplex("The message carries more calendar data than one invitation may.")
    return payload


def _text(payload: bytes, charset: str | None) -> str:
    """The part's text in its own charset; a charset that is unknown, not a text encoding ("zlib",
    "rot13") or wrong for the bytes falls back to UTF-8, undecodable bytes replaced."""
    try:
        codecs.lookup(charset or DEFAULT_CHARSET)
        return payload.decode(charset or DEFAULT_CHARSET)
    except (LookupError, UnicodeDecodeError, ValueError):
        return payload.decode(DEFAULT_CHARSET, errors="replace")


def _mime_method(part: Message) -> str | None:
    method = part.get_param("method")
    if isinstance(method, tuple):  # RFC 2231 encoded parameter: (charset, language, value)
        method = method[2]
    if not isinstance(method, str) or not method.strip():
        return None
    return method.strip().upper()


def _merged(kept: CalendarPart, duplicate: CalendarPart) -> CalendarPart:
    """One calendar sent twice: the first copy, with the MIME method of the other when it has none
    (Google's invite.ics attachment has no method; the inline part has)."""
    if kept.mime_method is None and duplicate.mime_method is not None:
        return replace(kept, mime_method=duplicate.mime_method)
    return kept
