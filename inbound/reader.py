"""A mail message read as the domain needs it (``inbound_mail.ReceivedMail``): sender, subject,
Message-ID, the calendars and their iTIP methods, or why it is not to be applied at all.

Headers may hold anything (8-bit bytes in no declared charset, encoded words that do not decode):
they are read with the stdlib's lenient compat32 policy and decoded with replacement, never raised on.
"""

from __future__ import annotations

import hashlib
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses

from caldee_dav.errors import WorkLimitExceeded
from caldee_dav.scheduling.inbound_mail import CalendarText, ReceivedMail
from inbound import mime
from inbound.method import itip_method

# RFC 3834: mail sent by a program in answer to other mail. Out-of-office notices carry it.
AUTO_REPLY_VALUES = frozenset({"auto-replied", "auto-notified"})
# The header our outbound mail carries (its own id): mail we sent coming back is not applied.
OWN_MAIL_HEADER = "X-Caledee-Mail"
MAX_HEADER_CHARS = 4000


def read_mail(raw: bytes, via: str) -> ReceivedMail:
    digest = hashlib.sha256(raw).hexdigest()
    # Parsed once, whole: the headers are read from it, then its parts.
    too_complex: WorkLimitExceeded | None = None
    try:
        message: Message | None = mime.parsed_message(raw)
    except WorkLimitExceeded as exc:
        message, too_complex = None, exc
    headers = message if message is not None else _headers_only(raw)
    base = {
        "via": via,
        "digest": digest,
        "message_id": _header(headers, "Message-ID").strip() or None,
        "sender": sender_address(headers),
        "subject": _header(headers, "Subject") or None,
    }
    ignored = _ignored_before_reading(headers)
    if ignored is not None:
        return ReceivedMail(**base, ignored=ignored)
    try:
        if message is None:
            raise too_complex or WorkLimitExceeded("the message could not be read")
        parts = mime.calendar_parts_of(message)
    except WorkLimitExceeded as exc:
        return ReceivedMail(**base, ignored=f"not read: {exc}")
    calendars = [CalendarText(part.text, itip_method(part)) for part in parts]
    automatic = _auto_submitted(headers)
    if not calendars and automatic:
        return ReceivedMail(**base, ignored=f"an automatic message (Auto-Submitted: {automatic})")
    return ReceivedMail(**base, calendars=calendars)


def _headers_only(raw: bytes) -> Message:
    """The headers of a message too complex to parse whole (still logged with its sender)."""
    return BytesParser(policy=policy.compat32).parsebytes(raw, headersonly=True)


def sender_address(headers: Message) -> str | None:
    """The From address (the first, lower-cased); Sender when there is no From."""
    for name in ("From", "Sender"):
        addresses = [address for _, address in getaddresses([_header(headers, name)]) if "@" in address]
        if addresses:
            return addresses[0].strip().lower()[:320]
    return None


def _ignored_before_reading(headers: Message) -> str | None:
    if headers.get(OWN_MAIL_HEADER) is not None:
        return "our own outbound message"
    value = _auto_submitted(headers)
    if value in AUTO_REPLY_VALUES or headers.get("X-Autoreply") or headers.get("X-Autorespond"):
        return f"an automatic reply (Auto-Submitted: {value or 'auto-replied'})"
    return None


def _auto_submitted(headers: Message) -> str | None:
    value = _header(headers, "Auto-Submitted").strip().lower().split(";", 1)[0].strip()
    return value if value and value != "no" else None


def _header(headers: Message, name: str) -> str:
    """A header's text, encoded words decoded, undecodable bytes replaced; '' when absent."""
    raw = headers.get(name)
    if raw is None:
        return ""
    try:
        text = str(make_header(decode_header(str(raw))))
    except (ValueError, LookupError, UnicodeError, TypeError):
        text = str(raw)
    text = text.encode("utf-8", "replace").decode("utf-8", "replace")
    return " ".join(text.split())[:MAX_HEADER_CHARS]
