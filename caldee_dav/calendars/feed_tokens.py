"""Secret tokens of the .ics feeds and of the inbound URL, and the paths they open.

A calendar has two feed tokens: the full feed's and the busy-only feed's, so that sharing free/busy
never shares the details. A user has one more, for the feed of all their bookings. Feed tokens are
stored as SHA-256 only and shown once, when made (the calendar's creation, or a rotation); a rotation
replaces them, so the old URLs stop working at once. The inbound token is kept as is (see
``models.Collection.inbound_token``) and can be rotated too.

Lookups compare hashes in SQL: a wrong token, a rotated one and an unknown calendar all find nothing,
and the caller answers each with the same 404.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy.orm import Session

from caldee_dav import store
from caldee_dav.calendars.accounts import get_user, hash_token
from caldee_dav.models import Collection, User, new_inbound_token

FEED_TOKEN_PREFIX = "feed_"
FEED_TOKEN_BYTES = 24  # 192 bits


@dataclass(frozen=True)
class FeedTokens:
    """A calendar's feed tokens as just made: shown once, never stored."""

    full: str
    busy: str


def _new_feed_token() -> str:
    return FEED_TOKEN_PREFIX + secrets.token_urlsafe(FEED_TOKEN_BYTES)


def issue_calendar_feed_tokens(calendar: Collection) -> FeedTokens:
    """New tokens for the calendar's full and busy-only feeds, replacing any before them (in the
    caller's transaction)."""
    tokens = FeedTokens(full=_new_feed_token(), busy=_new_feed_token())
    calendar.feed_token_hash = hash_token(tokens.full)
    calendar.busy_feed_token_hash = hash_token(tokens.busy)
    return tokens


def issue_bookings_feed_token(user: User) -> str:
    """A new token for the user's feed of bookings, replacing any before it."""
    token = _new_feed_token()
    user.bookings_feed_token_hash = hash_token(token)
    return token


def rotate_inbound_token(calendar: Collection) -> str:
    calendar.inbound_token = new_inbound_token()
    return calendar.inbound_token


def calendar_for_feed(session: Session, calendar_id: str, token: str, *, busy: bool) -> Collection | None:
    """The calendar ``calendar_id`` when ``token`` is its full feed's token (``busy``: its busy-only
    feed's); None otherwise."""
    if not token.startswith(FEED_TOKEN_PREFIX):
        return None
    calendar = store.calendar_by_public_id(session, calendar_id)
    if calendar is None:
        return None
    expected = calendar.busy_feed_token_hash if busy else calendar.feed_token_hash
    return calendar if expected is not None and secrets.compare_digest(expected, hash_token(token)) else None


def user_for_bookings_feed(session: Session, user_id: str, token: str) -> User | None:
    """The user ``user_id`` when ``token`` is the token of their bookings feed; None otherwise."""
    if not token.startswith(FEED_TOKEN_PREFIX):
        return None
    user = get_user(session, user_id)
    expected = user.bookings_feed_token_hash if user is not None else None
    return user if expected is not None and secrets.compare_digest(expected, hash_token(token)) else None


# Where the feeds are served (below the server's public URL), so the REST answers and the feed
# routes agree.
def calendar_feed_path(calendar_id: str, token: str) -> str:
    return f"/feeds/{calendar_id}.ics?token={token}"


def busy_feed_path(calendar_id: str, token: str) -> str:
    return f"/feeds/{calendar_id}/busy.ics?token={token}"


def bookings_feed_path(user_id: str, token: str) -> str:
    return f"/feeds/bookings/{user_id}.ics?token={token}"


def inbound_path(inbound_token: str) -> str:
    return f"/inbound/{inbound_token}"
