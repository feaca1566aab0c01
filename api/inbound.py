"""Mail to a calendar over HTTP, and the calendar's inbound log.

``POST /inbound/{token}`` (at the root, like the feeds; ``door``): the calendar's ``inboundUrl``. The token
in the URL is the only credential, so every way of not finding the calendar (unknown, rotated) is the
404 of any unknown URL. The body is a raw RFC 5322 message (``message/rfc822``, or ``text/plain`` /
``application/octet-stream`` / no Content-Type) or a Postmark-style inbound webhook JSON
(``application/json``, made into the message by ``inbound.postmark``). Either is read by
``inbound.reader`` and applied by ``inbound.pipeline`` in this request, as the SMTP server applies mail;
the answer is the log entry. Requests are counted per client address (``api.rate_limits``).

``GET /api/v2/calendars/{id}/inbound-messages`` (``bp``): the log, newest first.
"""

from __future__ import annotations

import json
from typing import IO, Any

from flask import Blueprint, Response, abort, jsonify, request
from pydantic import ValidationError
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType
from werkzeug.wsgi import get_input_stream

from api.auth import require_scopes
from api.body import query_args
from api.context import caledee, current_user_id, read_unit
from api.errors import error_response
from api.schemas.common import json_response, to_json
from api.schemas.inbound import InboundDeliveryOut, InboundMessageListQuery, InboundMessageOut
from caldee_dav.errors import InvalidInput
from caldee_dav.scheduling import inbound_mail
from inbound import pipeline
from inbound.postmark import BadAttachment, PostmarkInbound, to_rfc822
from inbound.reader import read_mail

bp = Blueprint("inbound_messages", __name__)
# Its name is in api.rate_limits.LIMITED_BLUEPRINTS: counted per client address.
door = Blueprint("inbound", __name__)

RAW_TYPES = frozenset({"message/rfc822", "text/plain", "application/octet-stream"})
JSON_TYPE = "application/json"
READ_CHUNK = 64 * 1024


@door.post("/inbound/<token>")
def receive_mail(token: str) -> Response:
    context = caledee()
    with read_unit() as session:
        if inbound_mail.calendar_for_token(session, token) is None:
            abort(404)
    kind = _body_kind()
    body = _capped_body(context.settings.inbound_max_message_bytes)
    raw = _postmark_message(body) if kind == JSON_TYPE else body
    mail = read_mail(raw, inbound_mail.HTTP)
    logged = pipeline.deliver_to_token(context.engine, context.settings, mail, token)
    if logged is None:  # the token was rotated meanwhile
        abort(404)
    return json_response(InboundDeliveryOut.from_logged(logged))


@bp.get("/calendars/<calendar_id>/inbound-messages")
@require_scopes("read:calendars")
def list_inbound_messages(calendar_id: str) -> Response:
    args = query_args(InboundMessageListQuery)
    with read_unit() as session:
        views, next_cursor = inbound_mail.list_messages(
            session,
            current_user_id(),
            calendar_id,
            outcome=args.outcome,
            cursor=args.cursor,
            limit=args.limit,
        )
        data = [to_json(InboundMessageOut.from_logged(view)) for view in views]
    return jsonify({"data": data, "nextCursor": next_cursor})


def _body_kind() -> str:
    """JSON_TYPE or a raw message; 415 for anything else. No Content-Type is a raw message (RFC 9110
    8.3: the recipient may take it for application/octet-stream)."""
    mimetype = request.mimetype
    if mimetype == JSON_TYPE:
        return JSON_TYPE
    if not mimetype or mimetype in RAW_TYPES:
        return "message/rfc822"
    accepted = ", ".join(sorted(RAW_TYPES | {JSON_TYPE}))
    raise UnsupportedMediaType(f"The body must be a mail message or inbound webhook JSON ({accepted}).")


def _capped_body(limit: int) -> bytes:
    """The request body, refused with 413 past ``limit`` bytes: at once when Content-Length says so,
    else after reading one byte more than the limit (a chunked body), never more."""
    too_large = RequestEntityTooLarge(f"The message is larger than this server takes ({limit} bytes).")
    length = request.content_length
    if length is not None and length > limit:
        raise too_large
    body = _read_at_most(get_input_stream(request.environ), limit + 1)
    if len(body) > limit:
        raise too_large
    return body


def _read_at_most(stream: IO[bytes], size: int) -> bytes:
    chunks: list[bytes] = []
    received = 0
    while received < size:  # bounded: every pass reads at least one byte, or ends
        chunk = stream.read(min(READ_CHUNK, size - received))
        if not chunk:
            break
        chunks.append(chunk)
        received += len(chunk)
    return b"".join(chunks)


def _postmark_message(body: bytes) -> bytes:
    """The message a Postmark-style JSON body describes; 400 naming what is wrong with it."""
    try:
        data: Any = json.loads(body)
    except (ValueError, RecursionError):
        raise WebhookBodyRefused([((), "The body is not JSON.", "invalid_json")]) from None
    if not isinstance(data, dict):
        raise WebhookBodyRefused([((), "The body must be a JSON object.", "invalid_json")])
    try:
        mail = PostmarkInbound.model_validate(data)
        return to_rfc822(mail)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        raise WebhookBodyRefused([(error["loc"], error["msg"], error["type"]) for error in errors]) from None
    except BadAttachment as exc:
        raise WebhookBodyRefused(
            [(("Attachments", exc.index, "Content"), "is not valid base64", "invalid_base64")]
        ) from None


class WebhookBodyRefused(Exception):
    """A 400 about a webhook body whose ``details`` name fields as the body does (``Attachments.0.Content``),
    not in the API's camelCase: answered by the handler below rather than ``api.errors``."""

    def __init__(self, problems: list[tuple[tuple[Any, ...], str, str]]) -> None:
        super().__init__(problems[0][1])
        self.problems = problems


@door.errorhandler(WebhookBodyRefused)
def _webhook_body_refused(exc: WebhookBodyRefused) -> Response:
    details = [
        {"path": [str(part) for part in path], "message": message, "code": code}
        for path, message, code in exc.problems
    ]
    first_path, first_message, _ = exc.problems[0]
    where = ".".join(str(part) for part in first_path)
    return error_response(
        400, InvalidInput.title, f"{where}: {first_message}" if where else first_message, details
    )
