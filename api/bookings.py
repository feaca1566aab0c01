"""``/api/v2/bookings``: list, create, get, cancel, and Caledee's reschedule/confirm/decline/no-show.

Create, cancel and reschedule honour an ``Idempotency-Key`` header: the first answer is stored in the
same transaction as the change and replayed to retries (see ``caldee_dav.scheduling.idempotency``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, jsonify, request

from api.auth import require_scopes
from api.body import json_body, query_args, request_json
from api.context import caledee, current_user_id, read_unit, write_unit
from api.schemas.bookings import BookingIn, BookingListQuery, BookingOut, NoShowIn, ReasonIn, RescheduleIn
from api.schemas.common import to_json
from caldee_dav.calendars import accounts
from caldee_dav.errors import Conflict, InvalidInput, Problem
from caldee_dav.scheduling import booking_list, bookings, idempotency

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from caldee_dav.models import Booking

bp = Blueprint("bookings", __name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
Action = Callable[["Session"], tuple[int, dict[str, Any]]]
# Whose Idempotency-Key a request's is and its scope: (user id, scope).
KeyOwner = Callable[["Session"], tuple[str, str]]
# The scopes of public requests' keys (kept with the host's) start with it.
PUBLIC_SCOPE = "public:"


def booking_json(session: Session, booking: Booking) -> dict[str, Any]:
    return to_json(BookingOut.from_row(booking, bookings.event_type_of(session, booking)))


def _respond(status: int, body: dict[str, Any] | None, *, replayed: bool = False) -> Response:
    response = jsonify(body)
    response.status_code = status
    if status == 201 and body:
        response.headers["Location"] = f"/api/v2/bookings/{body['id']}"
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _idempotency_key() -> str | None:
    """The request's Idempotency-Key header, stripped; None without the header."""
    raw_key = request.headers.get(IDEMPOTENCY_HEADER)
    if raw_key is None:
        return None
    key = raw_key.strip()
    if not idempotency.is_valid_key(key):
        message = f"The {IDEMPOTENCY_HEADER} header must be 1 to {idempotency.MAX_KEY_LENGTH} characters."
        raise InvalidInput(message, problems=[Problem((IDEMPOTENCY_HEADER,), message, "invalid_header")])
    return key


def _token_key_owner(session: Session) -> tuple[str, str]:
    """A token's request: its keys are the token user's, one scope per method and path."""
    return current_user_id(), f"{request.method} {request.path}"


def run_once(action: Action, request_payload: Any, key_owner: KeyOwner = _token_key_owner) -> Response:
    """Run ``action`` in one write transaction, once per Idempotency-Key when the header is sent.

    ``key_owner`` says, inside that transaction and before the action, whose key it is and in which
    scope (a public request has no user: the host's keys, in a scope of their own)."""
    key = _idempotency_key()
    if key is None:
        with write_unit() as session:
            status, body = action(session)
        return _respond(status, body)
    digest = idempotency.request_hash(request_payload)
    for attempt in range(2):
        try:
            with write_unit() as session:
                user_id, scope = key_owner(session)
                claimed = idempotency.claim(session, user_id, scope, key, digest)
                if isinstance(claimed, idempotency.StoredAnswer):
                    return _respond(claimed.status, claimed.body, replayed=True)
                status, body = action(session)
                idempotency.complete(claimed, status, body)
            return _respond(status, body)
        except idempotency.KeyReused as exc:
            raise Conflict(
                f"The {IDEMPOTENCY_HEADER} {exc.key!r} was already used for a different request to"
                f" {_said(exc.scope)}; use a new key for a new request."
            ) from exc
        except idempotency.ConcurrentClaim:
            # A concurrent twin with the same key committed first: claim again to replay its answer.
            if attempt:
                raise
    raise AssertionError("unreachable")


def _said(scope: str) -> str:
    """A scope as the client knows it: the request's method and path."""
    return f"{request.method} {request.path}" if scope.startswith(PUBLIC_SCOPE) else scope


def _user_email(session: Session) -> str:
    user = accounts.get_user(session, current_user_id())
    return user.email if user is not None else ""


@bp.get("/bookings")
@require_scopes("read:bookings")
def list_bookings() -> Response:
    args = query_args(BookingListQuery)
    with read_unit() as session:
        rows, next_cursor = booking_list.list_bookings(
            session,
            current_user_id(),
            status=args.status,
            start_from=args.from_,
            start_to=args.to,
            cursor=args.cursor,
            limit=args.limit,
        )
        data = [booking_json(session, row) for row in rows]
    return jsonify({"data": data, "nextCursor": next_cursor})


@bp.post("/bookings")
@require_scopes("write:bookings")
def create_booking() -> Response:
    new_booking = json_body(BookingIn).new_booking()
    ctx = caledee()

    def action(session: Session) -> tuple[int, dict[str, Any]]:
        booking = bookings.create_booking(session, ctx.settings, current_user_id(), new_booking, ctx.now())
        return 201, booking_json(session, booking)

    return run_once(action, request_json())


@bp.get("/bookings/<booking_id>")
@require_scopes("read:bookings")
def get_booking(booking_id: str) -> Response:
    with read_unit() as session:
        return jsonify(booking_json(session, bookings.get_booking(session, current_user_id(), booking_id)))


@bp.delete("/bookings/<booking_id>")
@require_scopes("write:bookings")
def cancel_booking(booking_id: str) -> Response:
    reason = request.args.get("reason")
    if reason is not None and len(reason) > 500:
        raise InvalidInput.about([Problem(("reason",), "must be at most 500 characters", "too_long")])
    ctx = caledee()

    def action(session: Session) -> tuple[int, dict[str, Any]]:
        booking = bookings.cancel_booking(
            session,
            ctx.settings,
            current_user_id(),
            booking_id,
            reason=reason or None,
            canceled_by=_user_email(session),
            now=ctx.now(),
        )
        return 200, booking_json(session, booking)

    return run_once(action, {"reason": reason})


@bp.post("/bookings/<booking_id>/reschedule")
@require_scopes("write:bookings")
def reschedule_booking(booking_id: str) -> Response:
    body = json_body(RescheduleIn)
    ctx = caledee()

    def action(session: Session) -> tuple[int, dict[str, Any]]:
        booking = bookings.reschedule_booking(
            session,
            ctx.settings,
            current_user_id(),
            booking_id,
            start=body.start,
            duration_min=body.duration_min,
            now=ctx.now(),
        )
        return 200, booking_json(session, booking)

    return run_once(action, request_json())


@bp.post("/bookings/<booking_id>/confirm")
@require_scopes("write:bookings")
def confirm_booking(booking_id: str) -> Response:
    ctx = caledee()
    with write_unit() as session:
        booking = bookings.confirm_booking(session, ctx.settings, current_user_id(), booking_id, ctx.now())
        return jsonify(booking_json(session, booking))


@bp.post("/bookings/<booking_id>/decline")
@require_scopes("write:bookings")
def decline_booking(booking_id: str) -> Response:
    body = json_body(ReasonIn) if request.get_data() else ReasonIn()
    ctx = caledee()
    with write_unit() as session:
        booking = bookings.decline_booking(
            session,
            ctx.settings,
            current_user_id(),
            booking_id,
            reason=body.reason,
            now=ctx.now(),
        )
        return jsonify(booking_json(session, booking))


@bp.post("/bookings/<booking_id>/no-show")
@require_scopes("write:bookings")
def mark_no_show(booking_id: str) -> Response:
    body = json_body(NoShowIn)
    with write_unit() as session:
        booking = bookings.set_no_show(session, current_user_id(), booking_id, body.no_show, caledee().now())
        return jsonify(booking_json(session, booking))
