"""Keyset cursors of the REST lists (bookings, leads, a calendar's events): the (time, id) of the last
row of a page, as opaque URL-safe text. A list may tag its cursors, so that another list's cursor is
refused rather than read as a position.

A cursor comes back from the client, so it is checked as any input: anything this server did not hand
out is a 400 naming ``cursor``, never a query with a NUL (PostgreSQL refuses one: a 500) or a time
outside datetime's range.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime

from caldee_dav.errors import InvalidInput, Problem

# Every id a list pages by (``bkg_...``, ``lead_...``, ``ev_..._20270104T090000Z``).
_ID = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def encode_cursor(moment: datetime, ident: str, *, tag: str | None = None) -> str:
    fields = [moment.astimezone(UTC).isoformat(), ident]
    raw = json.dumps([tag, *fields] if tag is not None else fields).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, tag: str | None = None, given_by: str = "this API") -> tuple[datetime, str]:
    """The (time in UTC, id) after which the next page starts; InvalidInput naming ``cursor`` for
    anything ``encode_cursor`` with this ``tag`` did not make (``given_by`` names the list in it)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        fields = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if tag is not None:
            found_tag, *fields = fields
            if found_tag != tag:
                raise ValueError("another list's cursor")
        moment_text, ident = fields
        moment = datetime.fromisoformat(moment_text)
        if moment.tzinfo is None or not isinstance(ident, str) or not _ID.match(ident):
            raise ValueError("bad cursor fields")
        return moment.astimezone(UTC), ident
    # RecursionError: JSON nested past the parser's depth; OverflowError: year 1 at +01:00 in UTC.
    except (ValueError, TypeError, OverflowError, RecursionError, binascii.Error) as exc:
        problem = Problem(("cursor",), f"is not a cursor returned by {given_by}", "invalid_cursor")
        raise InvalidInput.about([problem]) from exc
