"""A Postmark-style inbound webhook body (JSON: ``From``, ``FromFull``, ``To``, ``Subject``, ``MessageID``,
``Date``, ``Headers``, ``TextBody``, ``HtmlBody``, ``Attachments``) made back into the RFC 5322 message it
describes, so that ``POST /inbound/{token}`` reads it with ``inbound.reader`` as it reads mail.

Pure: no I/O. The model takes the fields a mail service sends and ignores the rest (Postmark sends many:
``MailboxHash``, ``StrippedTextReply``, ``ToFull``...). The message is built with the stdlib's compat32
classes, which store header text as given and encode it only when written: no header a sender wrote can
make building fail. Its multipart boundaries come from the body's digest, so the same JSON makes the same
bytes (the log keys a message without a Message-ID by its digest).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from email import encoders, policy
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

# Headers this module writes from the JSON's own fields, or that describe the sender's MIME structure
# (rebuilt here): a copy of them from ``Headers`` would contradict the message.
OWN_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "subject",
        "message-id",
        "date",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
    }
)
DEFAULT_CONTENT_TYPE = "application/octet-stream"
WIRE = policy.compat32.clone(linesep="\r\n")
MAX_HEADER_CHARS = 998  # RFC 5322 2.1.1: a line's limit; longer values are clipped, not refused


class PostmarkModel(BaseModel):
    """Names as Postmark writes them (PascalCase); fields it sends that Caledee does not read are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class PostmarkAddress(PostmarkModel):
    email: StrictStr | None = Field(default=None, alias="Email")
    name: StrictStr | None = Field(default=None, alias="Name")


class PostmarkHeader(PostmarkModel):
    name: StrictStr = Field(alias="Name")
    value: StrictStr = Field(alias="Value")


class PostmarkAttachment(PostmarkModel):
    name: StrictStr | None = Field(default=None, alias="Name")
    content: StrictStr = Field(alias="Content", description="The attachment's bytes, base64.")
    content_type: StrictStr | None = Field(default=None, alias="ContentType")
    content_length: StrictInt | None = Field(default=None, alias="ContentLength")


class PostmarkInbound(PostmarkModel):
    """The webhook's JSON. ``MessageID`` is the mail service's own id: the original ``Message-ID`` from
    ``Headers`` is preferred, so that the same invitation delivered by mail and by webhook is one."""

    from_: StrictStr | None = Field(default=None, alias="From")
    from_full: PostmarkAddress | None = Field(default=None, alias="FromFull")
    to: StrictStr | None = Field(default=None, alias="To")
    cc: StrictStr | None = Field(default=None, alias="Cc")
    subject: StrictStr | None = Field(default=None, alias="Subject")
    message_id: StrictStr | None = Field(default=None, alias="MessageID")
    date: StrictStr | None = Field(default=None, alias="Date")
    headers: list[PostmarkHeader] = Field(default_factory=list, alias="Headers")
    text_body: StrictStr | None = Field(default=None, alias="TextBody")
    html_body: StrictStr | None = Field(default=None, alias="HtmlBody")
    attachments: list[PostmarkAttachment] = Field(default_factory=list, alias="Attachments")


class BadAttachment(ValueError):
    """An attachment whose ``Content`` is not base64; ``index`` is its place in ``Attachments``."""

    def __init__(self, index: int) -> None:
        super().__init__(f"Attachments.{index}.Content is not valid base64")
        self.index = index


def to_rfc822(mail: PostmarkInbound) -> bytes:
    """The message ``mail`` describes: its headers, then the text and HTML bodies (alternatives) and the
    attachments. BadAttachment for an attachment that is not base64."""
    attachments = [_attachment(index, item) for index, item in enumerate(mail.attachments)]
    # ensure_ascii: the JSON may hold lone surrogates, which no UTF-8 can encode.
    described = json.dumps(mail.model_dump(by_alias=True), sort_keys=True, ensure_ascii=True)
    seed = hashlib.sha256(described.encode()).hexdigest()[:32]
    bodies: list[Message] = []
    if mail.text_body or not mail.html_body:
        bodies.append(MIMEText(_text(mail.text_body or ""), "plain", "utf-8"))
    if mail.html_body:
        bodies.append(MIMEText(_text(mail.html_body), "html", "utf-8"))
    body = bodies[0] if len(bodies) == 1 else MIMEMultipart("alternative", f"alt-{seed}", bodies)
    message = body if not attachments else MIMEMultipart("mixed", f"mixed-{seed}", [body, *attachments])
    _add_headers(message, mail)
    return message.as_bytes(policy=WIRE)


def _attachment(index: int, attachment: PostmarkAttachment) -> Message:
    try:
        data = base64.b64decode("".join(attachment.content.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadAttachment(index) from exc
    maintype, subtype, params = _content_type(attachment.content_type)
    part = MIMEBase(maintype, subtype, **params)
    part.set_payload(data)
    encoders.encode_base64(part)
    name = _clean(attachment.name or "")
    if not name:
        part.add_header("Content-Disposition", "attachment")
    elif name.isascii():
        part.add_header("Content-Disposition", "attachment", filename=name)
    else:  # RFC 2231
        part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", name))
    return part


def _content_type(text: str | None) -> tuple[str, str, dict[str, str]]:
    """Type, subtype and parameters of a Content-Type value, read as mail readers read it (lenient:
    anything unreadable is application/octet-stream)."""
    probe = Message()
    probe["Content-Type"] = _clean(text or DEFAULT_CONTENT_TYPE)
    maintype, subtype = probe.get_content_maintype(), probe.get_content_subtype()
    params = {
        _clean(key).lower(): _clean(str(value))
        for key, value in (probe.get_params() or [])[1:]
        if key and key.isascii() and key.replace("-", "").isalnum() and key.lower() != "boundary"
    }
    return maintype, subtype, params


def _add_headers(message: Message, mail: PostmarkInbound) -> None:
    sender = _sender(mail)
    original_id = next((h.value for h in mail.headers if h.name.strip().lower() == "message-id"), None)
    message_id = original_id or (f"<{mail.message_id.strip().strip('<>')}>" if mail.message_id else None)
    for name, value in (
        ("From", sender),
        ("To", mail.to),
        ("Cc", mail.cc),
        ("Subject", mail.subject),
        ("Date", mail.date),
        ("Message-ID", message_id),
    ):
        if value:
            message[name] = _clean(value)
    for header in mail.headers:
        name = header.name.strip()
        if name.lower() not in OWN_HEADERS and _header_name_ok(name):
            message[name] = _clean(header.value)


def _sender(mail: PostmarkInbound) -> str | None:
    full = mail.from_full
    if full is None or not full.email:
        return mail.from_
    address = _clean(full.email)
    if not address.isascii():  # an internationalised address (RFC 6532): formataddr takes ASCII only
        return address
    return formataddr((_clean(full.name or ""), address))


def _header_name_ok(name: str) -> bool:
    """RFC 5322 2.2: printable ASCII but the colon."""
    return 0 < len(name) <= 76 and all(33 <= ord(ch) <= 126 and ch != ":" for ch in name)


def _text(text: str) -> str:
    """``text`` as UTF-8 can carry it: JSON may hold lone surrogates (``"\\ud800"``), which become U+FFFD."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _clean(text: str) -> str:
    """Header text on one line: line breaks and other control characters become spaces."""
    flat = "".join(ch if ch.isprintable() else " " for ch in _text(text))
    return " ".join(flat.split())[:MAX_HEADER_CHARS]
